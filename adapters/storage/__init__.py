"""Storage: the SQL both backends share, behind one small connection interface."""

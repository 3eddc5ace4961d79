"""Read models: how events become the BASIC and FULL views of every job, and the engine that keeps them current."""

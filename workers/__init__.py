"""Background work: the dramatiq broker, thin actors around use cases, and the scheduler."""

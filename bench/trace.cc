// Trace sources for the simulator and the load generator.

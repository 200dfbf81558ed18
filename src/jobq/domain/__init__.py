"""Pure domain model: jobs, their states and errors. No I/O, no imports from other layers."""

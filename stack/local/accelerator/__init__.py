"""Global Accelerator's data plane: static addresses that route each connection to the nearest healthy Region."""

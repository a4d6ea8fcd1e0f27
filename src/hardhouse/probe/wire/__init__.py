"""Wire formats the probe speaks and reads, one module per protocol: pure functions over
bytes (no I/O), each parser bounded by the bytes it is given."""

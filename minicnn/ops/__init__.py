"""Function classes, one op family per file: basic, activation, conv, pool, lrn, norm, loss."""

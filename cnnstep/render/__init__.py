"""One printer per output format; each reads the solved layer and recomputes nothing."""

"""The local control plane process: API server, storage and every component in one process."""

"""gitorch: a Git-driven workload orchestrator in the shape of HashiCorp Nomad."""

__version__ = "0.1.0"

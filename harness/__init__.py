"""rehearse: rehearse a Kubernetes control-plane upgrade before production is touched."""

__version__ = "0.1.0"

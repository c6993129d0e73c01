"""impa: PyTorch reference and training package of impa-nowcast.

Submodules: config (hyper-parameters, no torch needed), model (ImpaNet, mixer,
normalisation), weights (NetCDF weights export/import), golden (parity files for
the C engine), bench_torch (PyTorch latency reference). torch is imported by the
submodules that need it, not here, so `impa.config` works without torch.
"""
__all__ = ["config", "model", "weights", "golden", "bench_torch"]

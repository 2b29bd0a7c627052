"""Reading and writing DICOM RT files (pydicom only here; no numba kernels)."""

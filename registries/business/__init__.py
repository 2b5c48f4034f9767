"""Simulated business registration system: the daily export files it drops in a folder.

- `generator`: seeded enterprises and branches (real owners from the simulated
  population), injected defects, and each later day's changes.
- `encoders`: how the files' text is written in the legacy encodings (TCVN3 and
  Windows-1258 through glibc iconv, VNI through a simulation-only table).
- `drop`: writes a day's CSV and XLSX files into the drop folder.
- `simulation`: `simulate(size, seed)` for `lgsp run`.
"""

"""Exports of trained models to open formats (ONNX); see :mod:`trainers.export.onnx`.

Importing this package loads no converter library: each is imported by the function that needs it.
"""

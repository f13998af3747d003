"""Tests that drive a real JupyterLab in headless Chromium (fixtures in conftest.py)."""

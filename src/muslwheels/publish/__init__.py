"""Wheels out to the world and back: wheel images in a registry (``images``, ``check``), wheels out of
images (``extract``), the wheels as a static package index (``staticindex``) and the generated CI
workflow (``workflow``)."""

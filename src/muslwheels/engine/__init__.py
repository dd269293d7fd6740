"""The container engine: what the build asks of it (``interface``), the one adapter that talks to
Docker (``docker``) and the pure rules about emulation (``emulation``)."""

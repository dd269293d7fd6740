"""Where facts come from, over the network or from files we keep: HTTP basics (``net``), the answer
cache (``cache``, ``jsonfile``), the package index we read (``packageindex``, ``pipconfig``), closure
wheels downloaded through pip (``pipdownload``) and the base-image registry (``registry``)."""

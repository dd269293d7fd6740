"""What the user declared and every fixed fact: modules.toml (``modules``), the frozen dataclasses every
layer shares (``model``), the architecture table (``arches``) and the image-reference grammar
(``imageref``). Pure."""

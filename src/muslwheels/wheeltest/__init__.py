"""The test step of a target: a clean container of its base image on its platform installs the wheel
with its runtime closure (``closure``) and imports it (``step``), and a record of the pass is kept."""

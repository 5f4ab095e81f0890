"""Test configuration.

The ``backend``, ``xp`` and ``float_dtype`` fixtures come from this library's
own pytest plugin (``portable_ml.testing.pytest_plugin``), as they do for
users.  Here we only make JAX see four CPU devices, so device placement is
tested without a GPU; this must happen before JAX is imported.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

pytest_plugins = ["pytester"]

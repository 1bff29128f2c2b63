"""AI Routing Workbench: try a multi-model routing design on replayed traffic before production.

Importing the package sets ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (unless the user set it) so that
litellm reads the price map shipped inside its package instead of downloading one at import: the
workbench runs offline by default, and a price must not change between two runs of the same scenario.
"""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__version__ = "0.1.0"
__all__ = ["__version__"]

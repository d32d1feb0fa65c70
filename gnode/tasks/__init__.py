"""Tasks for training sequence models (numpy arrays, batch-first, float64).

========================  ==================================================================
``flipflop``              n-bit flip-flop memory tasks of Kim, Can, Krishnamurthy (ICML 2023)
``FlipFlop``              (inputs, targets) returned by ``flipflop``
``FLIPFLOP_VARIANTS``     the variant names ``flipflop`` accepts
========================  ==================================================================
"""

from ._flipflop import FLIPFLOP_VARIANTS as FLIPFLOP_VARIANTS
from ._flipflop import FlipFlop as FlipFlop
from ._flipflop import flipflop as flipflop

__all__ = ["flipflop", "FlipFlop", "FLIPFLOP_VARIANTS"]

# trajectory expressivity (gnode/tasks/expressivity.py) and real data (gnode/tasks/datasets.py)
from .datasets import DATASETS as DATASETS  # noqa: E402
from .datasets import SequenceDataset as SequenceDataset  # noqa: E402
from .datasets import classification_table as classification_table  # noqa: E402
from .datasets import load_dataset as load_dataset  # noqa: E402
from .datasets import read_ts as read_ts  # noqa: E402
from .expressivity import ExpressivityResult as ExpressivityResult  # noqa: E402
from .expressivity import TrajectoryTask as TrajectoryTask  # noqa: E402
from .expressivity import expressivity as expressivity  # noqa: E402
from .expressivity import random_trajectories as random_trajectories  # noqa: E402

__all__ += ["random_trajectories", "TrajectoryTask", "expressivity", "ExpressivityResult",
            "load_dataset", "read_ts", "SequenceDataset", "classification_table", "DATASETS"]

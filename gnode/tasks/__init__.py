"""Tasks for training sequence models (numpy arrays, batch-first, float64).

========================  ==================================================================
``flipflop``              n-bit flip-flop memory tasks of Kim, Can, Krishnamurthy (ICML 2023)
``FlipFlop``              (inputs, targets) returned by ``flipflop``
``FLIPFLOP_VARIANTS``     the variant names ``flipflop`` accepts
``delayed_recall``        long-horizon recall (the copy task read out at the end)
``adding``                the adding problem
``digits``                scikit-learn's 8x8 digits read pixel by pixel (64 steps)
``SequenceTask``          the batch those three return
========================  ==================================================================

The trainability suite (tasks x models x initializations, gnode.task_init_) is the submodule
``gnode.tasks.trainability``.
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

# long-horizon tasks (gnode/tasks/long_horizon.py)
from .long_horizon import SequenceTask as SequenceTask  # noqa: E402
from .long_horizon import adding as adding  # noqa: E402
from .long_horizon import delayed_recall as delayed_recall  # noqa: E402
from .long_horizon import digits as digits  # noqa: E402

__all__ += ["delayed_recall", "adding", "digits", "SequenceTask"]

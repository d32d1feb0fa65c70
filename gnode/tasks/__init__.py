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

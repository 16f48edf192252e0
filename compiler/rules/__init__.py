"""Graph validation rules: one rule per module, each a function `(graph, program, diags)`.

They all run over one built graph, and each reports every problem it finds, not only the
first. The order here is the order in which they run.
"""

from .conditional_outputs import check_conditional_outputs
from .cycles import check_cycles
from .effect_policy import check_effect_policy
from .gate_outcomes import check_gate_outcomes
from .reachability import check_reachability
from .unconsumed import check_unconsumed
from .unused_imports import check_unused_imports

__all__ = ["RULES"]

RULES = (
    check_cycles,
    check_reachability,
    check_gate_outcomes,
    check_effect_policy,
    check_unconsumed,
    check_unused_imports,
    check_conditional_outputs,
)

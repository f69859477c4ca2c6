"""The worked solution as immutable data.

A :class:`Derivation` is made once from a solved layer and printed by every
renderer; it holds every number the page shows, so no renderer computes one.

It is a list of :class:`Step`, each a list of blocks (:class:`Text`,
:class:`Matrix`, :class:`Equation`, :class:`Omitted`, :class:`Table`); an equation is a
left-hand side and a chain of right-hand forms (the symbolic sum, the same
with numbers put in, any intermediate) ending in its exact value.

One module per step, each written with the small API of
:mod:`~cnnstep.derivation.builder` (:meth:`Builder.work_out` works out the
entries the plan picks and says what it left out):

* :mod:`.shapes` the output size, :mod:`.padding`, :mod:`.forward` the
  convolution;
* :mod:`.activation` and :mod:`.pooling`, forward and back;
* :mod:`.loss` the loss and its gradient (or the given upstream gradient);
* :mod:`.stride` zero insertion, :mod:`.grad_filter`, :mod:`.grad_bias`,
  :mod:`.grad_input`, and :mod:`.update`;
* :mod:`.history` the loss and the weights of every training step.

:mod:`.assemble` puts them in order for a solved layer.
"""

from cnnstep.derivation.assemble import DEFAULT_MAX_TERMS, derive
from cnnstep.derivation.builder import DETAILS, Detail
from cnnstep.derivation.nodes import (
    OPERATIONS,
    Add,
    Block,
    Call,
    Ceil,
    Derivation,
    Div,
    Elided,
    Equation,
    ExamQuestion,
    Exercises,
    Expr,
    Floor,
    Group,
    Image,
    Infinity,
    Matrix,
    More,
    Mul,
    Name,
    Num,
    Omitted,
    Part,
    Partial,
    Pow,
    Ratio,
    Sigma,
    Step,
    Sub,
    Sym,
    Table,
    Text,
    Whole,
)

__all__ = [
    "DEFAULT_MAX_TERMS", "DETAILS", "OPERATIONS", "Add", "Block", "Call", "Ceil", "Derivation",
    "Detail", "Div", "Elided", "Equation", "ExamQuestion", "Exercises", "Expr", "Floor", "Group",
    "Image", "Infinity", "Matrix", "More",
    "Mul", "Name", "Num", "Omitted", "Part", "Partial", "Pow", "Ratio", "Sigma", "Step", "Sub",
    "Sym", "Table", "Text", "Whole", "derive",
]

"""From a trained genome to files people can use: genome, safetensors weights, timm config, model card, ONNX.

``python -m search.export results/<study> --trial N`` or ``--genome FILE --weights FILE``, with ``[--out DIR]
[--onnx]`` (see ``__main__``), or::

    from search.export import export, from_files, from_study
    export(from_study("results/study", 12), "exports/trial-12", onnx=True)
    export(from_files("run/genome.json", "run/best.safetensors"), "exports/mine")
"""

from ._export import Exported, export
from ._onnx import OPSET
from ._sources import ExportError, Trained, from_files, from_study

__all__ = ["ExportError", "Exported", "OPSET", "Trained", "export", "from_files", "from_study"]

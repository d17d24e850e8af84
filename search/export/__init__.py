"""From a trained genome to files people can use: genome, safetensors weights, timm config, model card, ONNX.

``python -m search.export --genome FILE --weights FILE [--out DIR] [--onnx]`` (see ``__main__``), or::

    from search.export import export, from_files
    export(from_files("genome.json", "best.safetensors"), "exports/mine", onnx=True)
"""

from ._export import Exported, export
from ._onnx import OPSET
from ._sources import ExportError, Trained, from_files

__all__ = ["ExportError", "Exported", "OPSET", "Trained", "export", "from_files"]

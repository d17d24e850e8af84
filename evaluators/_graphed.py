"""A whole training step captured once in a CUDA graph and replayed for every batch.

At the proxy's batch of 8 a step of these networks is about a thousand tiny kernels, and on a GPU their
launches from Python, not the arithmetic, set the step's time (the 56 px reference took 40-90 ms a step on an
H200, benchmarks/README.md). A CUDA graph replays the recorded kernels with one launch. Everything a step
changes therefore lives in tensors the graph owns: the batch is copied into fixed input buffers, the learning
rate is a one-element tensor filled before each replay, and the SGD update is written out here with
multi-tensor ops that read that tensor (torch's SGD turns a tensor learning rate into a Python number, which
a graph cannot replay). The update is torch's SGD (momentum, Nesterov, weight decay, no dampening), and its
momentum buffers are the optimizer's state, so checkpoints save and resume them as before. It uses torch's
private ``torch._foreach_*`` ops, as torch's own optimizers do; tests/test_graphed.py compares the update with
``torch.optim.SGD``, and so says when an upgrade changes them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EAGER_STEPS = 3
"""Steps run eagerly, on a side stream, before the capture: CUDA graphs need the lazy initialisations (cuDNN
plans, the allocator's pools) done first. They are real training steps on real batches."""


@torch.no_grad()
def sgd_update(params: list[torch.Tensor], grads: list[torch.Tensor], buffers: list[torch.Tensor],
               lr: torch.Tensor, momentum: float, nesterov: bool, weight_decay: float) -> None:
    """torch.optim.SGD's update (dampening 0) with the learning rate a tensor; ``buffers`` start at zero,
    which makes the first step's buffer the gradient, as torch's does."""
    if weight_decay:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    if momentum:
        torch._foreach_mul_(buffers, momentum)
        torch._foreach_add_(buffers, grads)
        grads = torch._foreach_add(grads, buffers, alpha=momentum) if nesterov else buffers
    torch._foreach_sub_(params, torch._foreach_mul(grads, lr))


class GraphedStep:
    """``step(images, labels, lr)`` trains one batch and returns its loss (a tensor the next step overwrites).

    ``capture`` False runs every step eagerly through the same code: what the tests compare with torch's SGD
    on a CPU, where there is no graph to capture.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.SGD, autocast_dtype: torch.dtype | None,
                 label_smoothing: float, capture: bool):
        groups = optimizer.param_groups
        shared = {(g["momentum"], g["nesterov"], g["weight_decay"], g.get("dampening", 0)) for g in groups}
        if len(shared) != 1 or groups[0].get("dampening", 0):
            raise ValueError("graphs: the captured step takes SGD parameter groups that differ only in their "
                             "lr_factor, without dampening")
        self.model, self.autocast_dtype, self.label_smoothing = model, autocast_dtype, label_smoothing
        self.groups = []  # (params, their momentum buffers, lr_factor)
        for group in groups:
            params = [p for p in group["params"] if p.requires_grad]
            buffers = [optimizer.state[p].setdefault("momentum_buffer", torch.zeros_like(p)) for p in params]
            if params:
                self.groups.append((params, buffers, group.get("lr_factor", 1.0)))
        self.params = [p for params, _, _ in self.groups for p in params]
        self.buffers = [b for _, buffers, _ in self.groups for b in buffers]
        self.momentum, self.weight_decay = groups[0]["momentum"], groups[0]["weight_decay"]
        self.nesterov = groups[0]["nesterov"]
        device = self.params[0].device
        self.lr = torch.zeros((), device=device)
        self.capture = capture
        self.images: torch.Tensor | None = None
        self.labels: torch.Tensor | None = None
        self.loss: torch.Tensor | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager_steps = 0

    def step(self, images: torch.Tensor, labels: torch.Tensor, lr: float) -> torch.Tensor:
        if self.images is None or self.images.shape != images.shape:
            if self.graph is not None:
                raise ValueError(f"graphs: a batch of shape {tuple(images.shape)} after capturing "
                                 f"{tuple(self.images.shape)}: a captured step takes one batch shape")
            self.images, self.labels = torch.empty_like(images), torch.empty_like(labels)
        self.images.copy_(images)
        self.labels.copy_(labels)
        self.lr.fill_(lr)
        if self.graph is not None:
            self.graph.replay()
            return self.loss
        if not self.capture:
            return self._train_step().detach()
        if self.eager_steps < EAGER_STEPS:
            self.eager_steps += 1
            return self._on_side_stream().detach()
        self._capture()
        self.graph.replay()
        return self.loss

    def _train_step(self) -> torch.Tensor:
        for param in self.params:
            param.grad = None
        with torch.autocast(self.images.device.type, dtype=self.autocast_dtype or torch.float32,
                            enabled=self.autocast_dtype is not None, cache_enabled=False):
            loss = F.cross_entropy(self.model(self.images), self.labels, label_smoothing=self.label_smoothing)
        loss.backward()
        for params, buffers, factor in self.groups:
            sgd_update(params, [p.grad for p in params], buffers, self.lr if factor == 1 else self.lr * factor,
                       self.momentum, self.nesterov, self.weight_decay)
        return loss

    def _on_side_stream(self) -> torch.Tensor:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            loss = self._train_step()
        torch.cuda.current_stream().wait_stream(side)
        return loss

    def _capture(self) -> None:
        """Record one step; nothing runs until the first replay. The gradients are allocated inside the
        capture, from the graph's own memory, so every replay writes them to the same place."""
        for param in self.params:
            param.grad = None
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.loss = self._train_step()

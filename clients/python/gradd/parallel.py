"""Data parallelism over gradd: one batch split into shards, the shards'
gradients sent for concurrently and combined into the whole batch's."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Mapping, Optional

from . import tensors


def shard_sizes(n: int, shards: int) -> List[int]:
    """n rows in `shards` parts as equal as possible, the larger first
    (10 in 3: [4, 3, 3]). Never an empty shard: at most n parts."""
    if n < 1:
        raise ValueError("gradd: an empty batch cannot be split")
    k = max(1, min(int(shards), n))
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def _rows(x):
    if tensors.is_array(x):
        if x.ndim == 0:
            raise ValueError("gradd: a batched tensor needs a leading batch axis")
        return x.shape[0]
    if isinstance(x, (list, tuple)):
        return len(x)
    raise TypeError("gradd: batched tensors are numpy arrays or nested lists, not %s" % type(x).__name__)


def _scaled(g, w):
    if isinstance(g, list):
        return [_scaled(v, w) for v in g]
    return g * w


def _add(a, b):
    if isinstance(a, list):
        return [_add(x, y) for x, y in zip(a, b)]
    return a + b


def _concat(parts):
    if tensors.is_array(parts[0]):
        return tensors.np.concatenate(parts, axis=0)
    out = []
    for p in parts:
        out.extend(p)
    return out


def data_parallel_gradient(client: Any, graph: Any, batch: Mapping[str, Any], shards: int,
                           inputs: Optional[Mapping[str, Any]] = None, params: Optional[Mapping[str, Any]] = None,
                           reduction: str = "mean", max_workers: Optional[int] = None,
                           **fields: Any) -> Dict[str, Any]:
    """The gradient of a loss over a batch, computed as `shards` requests
    sent at once (to client's URL; a load balancer spreads them).

    batch: {name: tensor whose first axis is the batch}, all of one length
        n; shard i gets rows [start_i, start_i + n_i).
    inputs, params: the other values, sent whole with every shard.
    reduction: "mean" when the loss is a mean over the batch's rows (each
        shard's gradient is weighted by n_i / n), "sum" when it is a sum
        (weights 1). With the right reduction the result equals the
        gradient of the whole batch in one request.
    fields: more fields of the gradient request (wrt, dtype, ...).

    Returns {"values", "gradients", "shards"}: values (the loss) and
    gradients combined; gradients of the batched names are the shards'
    rows put back in order (each scaled by its weight); "shards" lists the
    shard sizes. Raises the first shard's GraddError.
    """
    if reduction not in ("mean", "sum"):
        raise ValueError('gradd: reduction is "mean" or "sum"')
    if not batch:
        raise ValueError("gradd: no batched tensors")
    lengths = {name: _rows(x) for name, x in batch.items()}
    n = next(iter(lengths.values()))
    if any(v != n for v in lengths.values()):
        raise ValueError("gradd: batched tensors of different lengths: %s" % lengths)
    sizes = shard_sizes(n, shards)
    bodies, start = [], 0
    for size in sizes:
        shard_inputs = dict(inputs or {})
        for name, x in batch.items():
            shard_inputs[name] = x[start:start + size]
        body = dict(fields)
        body["inputs"] = shard_inputs
        if params is not None:
            body["params"] = params
        bodies.append(body)
        start += size
    with ThreadPoolExecutor(max_workers=max_workers or len(bodies)) as pool:
        futures = [pool.submit(client.gradient, graph, **b) for b in bodies]
        results = [f.result() for f in futures]  # the first failure raises
    weights = [size / n if reduction == "mean" else 1.0 for size in sizes]

    values, gradients = {}, {}
    for name in results[0].get("values", {}):
        acc = None
        for r, w in zip(results, weights):
            term = _scaled(r["values"][name], w)
            acc = term if acc is None else _add(acc, term)
        values[name] = acc
    for name in results[0].get("gradients", {}):
        terms = [_scaled(r["gradients"][name], w) for r, w in zip(results, weights)]
        if name in batch:
            gradients[name] = _concat(terms)
        else:
            acc = terms[0]
            for t in terms[1:]:
                acc = _add(acc, t)
            gradients[name] = acc
    return {"values": values, "gradients": gradients, "shards": sizes}

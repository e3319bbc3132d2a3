"""gradd: a client of the gradd gradient computation service.

    import gradd
    client = gradd.Client("http://localhost:8080")
    client.gradient("(a+b)*(b+1)", inputs={"a": 2, "b": 1})
    # {'values': {'f': 6.0}, 'gradients': {'a': 2.0, 'b': 5.0}, 'stats': {...}}

Standard library only; numpy is used when installed (arrays in, arrays
out, tensors sent as raw bytes; GRADD_NO_NUMPY=1 in the environment turns
that off), torch tensors are accepted (and returned with
tensor_type="torch"). Keep-alive connections, retries on 503 and on lost
connections, and gradd.Model (fit, predict, save, load) for training.
"""

from .client import DEFAULT_TIMEOUT, Client
from .errors import GraddError
from .model import Model
from .parallel import data_parallel_gradient, shard_sizes
from .tensors import HAVE_NUMPY
from .transport import RetryPolicy

__all__ = ["Client", "GraddError", "Model", "RetryPolicy", "DEFAULT_TIMEOUT", "HAVE_NUMPY", "data_parallel_gradient",
           "shard_sizes"]
__version__ = "0.2.0"

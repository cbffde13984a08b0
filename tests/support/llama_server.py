"""llama-cpp-python's OpenAI-compatible server, for end-to-end tests with a real (tiny) LLM.

Runs ``llama_cpp.server`` with ggml's "extra buffer types" off: on CPUs that advertise AMX
inside sandboxes that do not grant AMX tile state, the AMX matmul segfaults; without the
extra buffers the plain CPU kernels are used. In embedding mode it pools token vectors by
their mean (the server has no flag for it, and gemma's default is no pooling, which yields
one vector per token instead of one per input). Usage:
``python -m tests.support.llama_server --model PATH --port N [--embedding true] ...``
(every flag of ``python -m llama_cpp.server``)."""

from __future__ import annotations

import llama_cpp
import llama_cpp.llama_cpp as low_level

_default_params = low_level.llama_model_default_params


def _params_without_extra_buffers():  # noqa: ANN202 - a ctypes struct
    params = _default_params()
    params.use_extra_bufts = False
    return params


low_level.llama_model_default_params = _params_without_extra_buffers

_llama_init = llama_cpp.Llama.__init__


def _init_with_mean_pooling(self, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
    if kwargs.get("embedding"):
        kwargs.setdefault("pooling_type", low_level.LLAMA_POOLING_TYPE_MEAN)
    _llama_init(self, *args, **kwargs)


llama_cpp.Llama.__init__ = _init_with_mean_pooling

if __name__ == "__main__":
    from llama_cpp.server.__main__ import main

    main()

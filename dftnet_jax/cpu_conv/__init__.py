"""Exactly equivalent formulations of the model's convolutions for XLA:CPU.

XLA:CPU differentiates some convolutions 10-50x slower than their FLOPs
warrant (strided-conv input gradients, transposed-conv weight gradients and
the gradient penalty's double backward; DESIGN §7). The same functions written
as space-to-depth + stride-1 convolutions, or as im2col + one matmul, avoid
those slow paths. Every formulation computes the same function of the same
parameters (`dftnet_jax.layers` holds them), so checkpoints move freely
between formulations and backends:

  native    `lax.conv_general_dilated` as is (what cuDNN and TPUs want).
  s2d       strided convs as space-to-depth + a stride-1 conv; transposed
            convs as sub-pixel: one stride-1 2×2 conv to the four output
            phases, then interleaving (`space_to_depth`).
  im2col    like s2d, but every stride-1 conv is one matmul over patches.
  banded    like s2d, but every stride-1 conv takes its weight gradient as
            im2col matmuls over bands of rows small enough to stay in cache
            (forward and input gradient stay native; `im2col`).
  winograd  like banded, but 3×3 and 2×2 stride-1 convs (the latter: the
            transposed conv's phases, strided convs after space-to-depth) run
            Winograd F(4×4, 3×3) and F(3×3, 2×2) (`winograd`). The forward
            and the input gradient (a full correlation with the flipped
            kernel) are Winograd convs; the weight gradient is Winograd's own
            for 3×3 kernels and banded for 2×2, whichever measured faster.

`convolve` dispatches a conv to a formulation; `policy` picks one per layer.
"""

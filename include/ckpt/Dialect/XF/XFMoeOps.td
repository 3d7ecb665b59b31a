//===- XFMoeOps.td - Mixture-of-experts ops of the xf dialect -*- tablegen -*-===//
//
// A mixture-of-experts MLP with static shapes: per-expert buffers of a
// capacity, or (dropless) one grouped buffer of a row per choice, so the
// planner places them like any other tensor. Included by XFOps.td.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_DIALECT_XF_XFMOEOPS_TD
#define CKPT_DIALECT_XF_XFMOEOPS_TD

def XF_MoeRouteOp : XF_PureOp<"moe_route"> {
  let summary = "top-k routing of each token to experts with a static capacity";
  let description = [{
    For `logits` `[s, b, E]` (the router's scores; token `t = i·b + j` is
    row `[i, j]`), picks each token's `top_k` experts by descending logit,
    ties to the lower expert index (`experts`, `[s, b, k]`), and weighs
    them with the softmax over the `k` chosen logits (`weights`; equal to
    the softmax over all experts renormalised over the chosen, as Mixtral
    and Megatron's default router compute it).

    Each expert has `capacity` rows in the dispatch buffer. `slots[t, j]` is
    the row `e·capacity + c` of choice `j` of token `t`, or `-1` when the
    choice is dropped: with `drop_policy = "position"` the first `capacity`
    choices of each expert in token order keep their slots; with `"probs"`
    (Megatron's default) those with the largest weights (ties to the lower
    token, then the lower choice), numbered in token order. Routing is
    decided in double precision from the stored logits, so every backend
    and precision routes alike.

    With `capacity = 0` (dropless, Megatron's default without
    `moe_expert_capacity_factor`) nothing is dropped and the buffer is
    grouped: `s·b·k` rows, one per choice, expert `e`'s rows together after
    those of experts `0..e-1`, each expert's in token order (the permuted
    tokens of Megatron's grouped GEMM). `slots[t, j]` is then the row of the
    choice in that buffer; how many rows each expert has is read from
    `experts` at run time.

    The backward keeps `logits` and `experts`.
  }];
  let arguments = (ins XF_FloatTensor:$logits, I64Attr:$top_k,
                       I64Attr:$capacity,
                       DefaultValuedStrAttr<StrAttr, "probs">:$drop_policy);
  let results = (outs XF_FloatTensor:$weights, XF_IndexTensor:$experts,
                      XF_IndexTensor:$slots);
  let assemblyFormat = [{
    $logits attr-dict `:` functional-type(operands, results)
  }];
}

def XF_MoeAuxLossOp : XF_PureOp<"moe_aux_loss"> {
  let summary = "the load-balancing loss of a router (Switch/Megatron)";
  let description = [{
    `coeff · E / (k · T²) · Σ_e c_e · P_e` for `T = s·b` tokens, with `c_e`
    the choices of expert `e` in `experts` (before any drop) and `P_e` the
    sum over tokens of the softmax over all `E` logits: Megatron's
    `switch_load_balancing_loss_func`. A 0-d f32 term of the step's loss;
    only `P` carries a gradient. The backward keeps `logits` and `experts`.

    With `counts` (`[E]`, f32) the weight of `P_e` is `coeff · counts_e`
    instead: one layer's term of transformers' `load_balancing_loss_func`,
    which pools the choices of every layer (`counts` their sum, from
    `xf.moe_expert_counts`).
  }];
  let arguments = (ins XF_FloatTensor:$logits, XF_IndexTensor:$experts,
                       Optional<XF_FloatTensor>:$counts, F64Attr:$coeff);
  let results = (outs XF_LossTensor:$result);
  let assemblyFormat = [{
    $logits `,` $experts (`,` $counts^)? attr-dict `:`
    functional-type(operands, results)
  }];
}

def XF_MoeExpertCountsOp : XF_PureOp<"moe_expert_counts"> {
  let summary = "how many choices of `experts` name each expert";
  let description = [{
    `result[e]` (f32, `[num_experts]`) counts the entries of `experts`
    (`[s, b, k]`) equal to `e`: a layer's share of the pooled counts of
    transformers' balancing loss. Integer choices carry no gradient.
  }];
  let arguments = (ins XF_IndexTensor:$experts, I64Attr:$num_experts);
  let results = (outs XF_FloatTensor:$result);
  let assemblyFormat = [{
    $experts attr-dict `:` functional-type(operands, results)
  }];
}

def XF_MoeDispatchOp : XF_PureOp<"moe_dispatch"> {
  let summary = "copy each token into its experts' buffers";
  let description = [{
    `result` `[E, capacity, h]` has row `slots[t, j]` equal to token `t` of
    `input` (`[s, b, h]`) for every kept choice, and zeros in the rows no
    token fills. With `capacity = 0` it is the grouped `[s·b·k, h]` of
    dropless routing (`xf.moe_route`), every row filled. The backward keeps
    only `slots`. At run time a slot outside `[-1, rows)`, or a row named by
    two choices, is an error (here and in `xf.moe_combine` and the
    gradients).
  }];
  let arguments = (ins XF_FloatTensor:$input, XF_IndexTensor:$slots,
                       I64Attr:$num_experts, I64Attr:$capacity);
  let results = (outs XF_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $slots attr-dict `:` functional-type(operands, results)
  }];
}

def XF_ExpertLinearOp : XF_PureOp<"expert_linear"> {
  let summary = "one linear per expert over its buffer: X_e · W_eᵀ";
  let description = [{
    `input` `[E, C, in]` and `weight` `[E, out, in]` (expert `e`'s matrix
    in Megatron's `[out, in]` layout) give `[E, C, out]`. Grouped, `input`
    is `[s·b·k, in]` with the routing map `experts` `[s, b, k]`: expert
    `e`'s rows are the next `count(experts == e)` rows (Megatron's grouped
    GEMM over its permuted tokens), and the result is `[s·b·k, out]`. The
    backward keeps `input` (and `experts`) and reads `weight`.
  }];
  let arguments = (ins XF_FloatTensor:$input, XF_FloatTensor:$weight,
                       Optional<XF_IndexTensor>:$experts);
  let results = (outs XF_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $experts^)? attr-dict `:`
    functional-type(operands, results)
  }];
}

def XF_MoeCombineOp : XF_PureOp<"moe_combine"> {
  let summary = "weighted sum of each token's expert outputs";
  let description = [{
    `result[t] = Σ_j weights[t, j] · expert_output[slots[t, j]]` (rows of
    `[E, C, h]` or of a grouped `[s·b·k, h]`) over the
    kept choices in order `j = 0, 1, ...` (a dropped choice adds nothing),
    `[s, b, h]`. The backward keeps all three operands.
  }];
  let arguments = (ins XF_FloatTensor:$expert_output, XF_FloatTensor:$weights,
                       XF_IndexTensor:$slots);
  let results = (outs XF_FloatTensor:$result);
  let assemblyFormat = [{
    $expert_output `,` $weights `,` $slots attr-dict
    `:` functional-type(operands, results)
  }];
}

def XF_MoeRouteGradOp : XF_GradOp<"moe_route_grad"> {
  let summary = "logit gradient of the top-k softmax weights";
  let description = [{
    Recomputes the `k` weights `w` from `logits` and `experts`; the chosen
    logits get `w_j · (dw_j - Σ_i w_i · dw_i)`, the others zero.
  }];
  let arguments = (ins XF_FloatTensor:$logits, XF_IndexTensor:$experts,
                       XF_FloatTensor:$grad_weights);
  let results = (outs XF_FloatTensor:$grad);
  let assemblyFormat = [{
    $logits `,` $experts `,` $grad_weights attr-dict
    `:` functional-type(operands, results)
  }];
}

def XF_MoeAuxLossGradOp : XF_GradOp<"moe_aux_loss_grad"> {
  let summary = "logit gradient of the load-balancing loss";
  let description = [{
    For an upstream gradient of 1 (the loss is a term of the step's):
    `p_t,e · (g_e - Σ_e' p_t,e' · g_e')` with `p` the softmax over all
    experts and `g_e = coeff · E · c_e / (k · T²)`, or `coeff · counts_e`
    with `counts`.
  }];
  let arguments = (ins XF_FloatTensor:$logits, XF_IndexTensor:$experts,
                       Optional<XF_FloatTensor>:$counts, F64Attr:$coeff);
  let results = (outs XF_FloatTensor:$grad);
  let assemblyFormat = [{
    $logits `,` $experts (`,` $counts^)? attr-dict `:`
    functional-type(operands, results)
  }];
}

def XF_MoeDispatchGradOp : XF_GradOp<"moe_dispatch_grad"> {
  let summary = "gradient of dispatch: each token sums its slots' gradients";
  let arguments = (ins XF_IndexTensor:$slots, XF_FloatTensor:$grad_output);
  let results = (outs XF_FloatTensor:$grad);
  let assemblyFormat = [{
    $slots `,` $grad_output attr-dict `:` functional-type(operands, results)
  }];
}

def XF_ExpertLinearGradInputOp : XF_GradOp<"expert_linear_grad_input"> {
  let summary = "input gradient of the expert linears: dY_e · W_e";
  let arguments = (ins XF_FloatTensor:$grad_output, XF_FloatTensor:$weight,
                       Optional<XF_IndexTensor>:$experts);
  let results = (outs XF_FloatTensor:$grad);
  let assemblyFormat = [{
    $grad_output `,` $weight (`,` $experts^)? attr-dict `:`
    functional-type(operands, results)
  }];
}

def XF_ExpertLinearGradWeightOp : XF_GradOp<"expert_linear_grad_weight"> {
  let summary = "weight gradient of the expert linears: dY_eᵀ · X_e";
  let description = [{
    Grouped (with `experts`), an expert that no choice names has a zero
    gradient.
  }];
  let arguments = (ins XF_FloatTensor:$grad_output, XF_FloatTensor:$input,
                       Optional<XF_IndexTensor>:$experts);
  let results = (outs XF_FloatTensor:$grad);
  let assemblyFormat = [{
    $grad_output `,` $input (`,` $experts^)? attr-dict `:`
    functional-type(operands, results)
  }];
}

def XF_MoeCombineGradOp : XF_GradOp<"moe_combine_grad"> {
  let summary = "gradients of combine for the expert outputs and the weights";
  let description = [{
    Row `slots[t, j]` of `grad_expert_output` is `weights[t, j] · dY[t]`
    (rows no token fills are zero); `grad_weights[t, j]` is
    `<dY[t], expert_output[slots[t, j]]>`, or zero for a dropped choice.
  }];
  let arguments = (ins XF_FloatTensor:$expert_output, XF_FloatTensor:$weights,
                       XF_IndexTensor:$slots, XF_FloatTensor:$grad_output);
  let results = (outs XF_FloatTensor:$grad_expert_output,
                      XF_FloatTensor:$grad_weights);
  let assemblyFormat = [{
    $expert_output `,` $weights `,` $slots `,` $grad_output attr-dict
    `:` functional-type(operands, results)
  }];
}

#endif // CKPT_DIALECT_XF_XFMOEOPS_TD

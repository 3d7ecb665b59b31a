//===- GPTGraphBuilder.cpp - Build an xf forward graph --------------------===//

#include "ckpt/Target/Config/GPTGraphBuilder.h"
#include "ckpt/Dialect/Ckpt/CkptDialect.h"
#include "ckpt/Dialect/XF/XFDialect.h"
#include "ckpt/Dialect/XF/XFOps.h"
#include "ckpt/Dialect/XF/XFTags.h"
#include "ckpt/Interfaces/OpTableAdapter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/BitVector.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>

using namespace mlir;
using namespace ckpt;
using namespace ckpt::xf;
using config::GPTConfig;

namespace {

/// Declares the function's arguments first, then emits the body; parameters
/// are looked up by their Megatron-core name.
class GPTGraphBuilder {
public:
  GPTGraphBuilder(const GPTConfig &config, MLIRContext *context, Location loc,
                  int64_t stage)
      : config(config), builder(context), fileLoc(loc), stage(stage) {
    // A config names f32, bf16 or f16 (config::parseDType).
    elementType = config.dtype == config::DType::BF16  ? builder.getBF16Type()
                  : config.dtype == config::DType::F16 ? builder.getF16Type()
                                                       : builder.getF32Type();
  }

  OwningOpRef<ModuleOp> build() {
    OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
    module->getOperation()->setAttr(XFDialect::kModelAttrName, describeModel());
    if (config.recompute.given)
      module->getOperation()->setAttr(CkptDialect::kPolicyAttrName,
                                      describePolicy());
    declareArguments();

    builder.setInsertionPointToEnd(module->getBody());
    auto funcType = builder.getFunctionType(argTypes, {lossType()});
    auto func = builder.create<func::FuncOp>(fileLoc, "forward", funcType);
    // All at once: one argument at a time rebuilds the whole array each
    // time, quadratic in the number of parameters.
    func.setAllArgAttrs(argAttrs);
    Block *entry = func.addEntryBlock();
    builder.setInsertionPointToStart(entry);
    arguments = entry->getArguments();

    if (config.pipelined())
      module->getOperation()->setAttr(CkptDialect::kPipelineAttrName,
                                      describePipeline());
    Value loss = emitChunks();
    emitPooledBalancingLoss();
    // The routers' load-balancing losses are terms of the step's loss.
    for (Value aux : auxLosses)
      loss = tag(builder.create<AddOp>(named("loss.aux"), loss, aux), "loss",
                 std::nullopt)
                 .getResult();
    if (loss) {
      builder.create<func::ReturnOp>(fileLoc, loss);
    } else {
      builder.create<func::ReturnOp>(fileLoc);
      func.setFunctionType(builder.getFunctionType(argTypes, {}));
    }
    if (staged())
      keepStageArguments(func);
    return module;
  }

private:
  /// Whether the graph is one of several pipeline stages.
  bool staged() const { return config.pipelineParallelSize > 1; }

  /// Emits the model chunk by chunk (Megatron's order: chunk k on stage
  /// k % p). The whole model is emitted so that every op keeps the name and
  /// dropout stream it has in the unpipelined graph; the other stages'
  /// chunks are erased afterwards, and a chunk of this stage starts from a
  /// receive and ends in a send. Returns the loss, or null when the head is
  /// on another stage.
  Value emitChunks() {
    int64_t p = config.pipelineParallelSize;
    int64_t chunks = p * config.virtualPipelineSize;
    Block *block = builder.getInsertionBlock();
    SmallVector<Operation *> foreign;
    Value hidden, loss;
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      bool mine = chunk % p == stage;
      Operation *before = block->empty() ? nullptr : &block->back();
      if (chunk == 0)
        hidden = emitEmbedding();
      else if (mine && staged())
        hidden =
            builder.create<RecvOp>(named("pipeline.recv"), hidden.getType(),
                                   builder.getI64IntegerAttr((chunk - 1) % p),
                                   builder.getI64IntegerAttr(chunk - 1));
      auto [begin, end] = config.chunkLayers(chunk);
      for (int64_t layer = begin; layer < end; ++layer)
        hidden = emitLayer(hidden, layer);
      if (chunk == chunks - 1)
        loss = emitHeadAndLoss(hidden);
      else if (mine && staged())
        builder.create<SendOp>(named("pipeline.send"), hidden,
                               builder.getI64IntegerAttr((chunk + 1) % p),
                               builder.getI64IntegerAttr(chunk));
      for (Operation *op = before ? before->getNextNode() : &block->front(); op;
           op = op->getNextNode()) {
        if (!mine)
          foreign.push_back(op);
        else if (config.pipelined())
          op->setAttr(CkptDialect::kChunkAttrName,
                      builder.getI64IntegerAttr(chunk / p));
      }
    }
    for (Operation *op : llvm::reverse(foreign))
      op->erase();
    return stage == (chunks - 1) % p ? loss : Value();
  }

  /// Drops the arguments this stage does not read (the tokens after the
  /// first stage, the labels before the last, the other stages' layers'
  /// parameters), and marks the word embedding that the first and last
  /// stage both hold: their gradients are summed between them.
  void keepStageArguments(func::FuncOp func) {
    int64_t last = config.pipelineParallelSize - 1;
    if (!config.untieEmbeddingsAndOutputWeights) {
      auto it = paramIndex.find("embedding.word_embeddings.weight");
      bool shared = (stage == 0 || stage == last) &&
                    !func.getArgument(it->second).use_empty();
      if (shared)
        func.setArgAttr(it->second, CkptDialect::kTiedStageAttrName,
                        builder.getI64IntegerAttr(stage == 0 ? last : 0));
    }
    llvm::BitVector unused(func.getNumArguments());
    for (BlockArgument arg : func.getArguments())
      if (arg.use_empty())
        unused.set(arg.getArgNumber());
    func.eraseArguments(unused);
  }

  /// {stage, stages, virtual_stages, micro_batches}.
  DictionaryAttr describePipeline() {
    NamedAttrList fields;
    fields.append("stage", builder.getI64IntegerAttr(stage));
    fields.append("stages",
                  builder.getI64IntegerAttr(config.pipelineParallelSize));
    fields.append("virtual_stages",
                  builder.getI64IntegerAttr(config.virtualPipelineSize));
    fields.append("micro_batches",
                  builder.getI64IntegerAttr(config.numMicroBatches));
    return fields.getDictionary(builder.getContext());
  }

  //===--------------------------------------------------------------------===//
  // Arguments
  //===--------------------------------------------------------------------===//

  RankedTensorType tensor(ArrayRef<int64_t> shape, Type element = {}) {
    return RankedTensorType::get(shape, element ? element : elementType);
  }
  RankedTensorType lossType() { return tensor({}, builder.getF32Type()); }

  void addArgument(Type type, StringRef role, StringRef name = {}) {
    argTypes.push_back(type);
    SmallVector<NamedAttribute, 2> attrs = {builder.getNamedAttr(
        XFDialect::kRoleAttrName, builder.getStringAttr(role))};
    if (!name.empty()) {
      attrs.push_back(builder.getNamedAttr(XFDialect::kNameAttrName,
                                           builder.getStringAttr(name)));
      paramIndex[name] = argTypes.size() - 1;
    }
    argAttrs.push_back(builder.getDictionaryAttr(attrs));
  }

  void addParameter(const std::string &name, ArrayRef<int64_t> shape) {
    addArgument(tensor(shape), "parameter", name);
  }

  static std::string layerPrefix(int64_t layer) {
    return llvm::formatv("decoder.layers.{0}.", layer).str();
  }

  void addLinearParameters(const std::string &prefix, int64_t out, int64_t in,
                           bool bias) {
    addParameter(prefix + ".weight", {out, in});
    if (bias)
      addParameter(prefix + ".bias", {out});
  }

  bool tensorParallel() const { return config.tensorParallelSize > 1; }

  bool rmsNorm() const { return config.normalization == "RMSNorm"; }
  bool learnedPositions() const {
    return config.positionEmbeddingType == "learned_absolute";
  }
  bool rotary() const { return config.positionEmbeddingType == "rope"; }

  void addNormParameters(const std::string &prefix) {
    addParameter(prefix + ".weight", {config.hiddenSize});
    markSequenceParallelGrad(prefix + ".weight");
    if (rmsNorm())
      return; // RMSNorm has no bias.
    addParameter(prefix + ".bias", {config.hiddenSize});
    markSequenceParallelGrad(prefix + ".bias");
  }

  /// With sequence parallelism a replicated parameter applied to a
  /// sequence shard gets a partial gradient on each rank; the training step
  /// sums it over the ranks (Megatron all-reduces these too).
  void markSequenceParallelGrad(const std::string &name) {
    if (!config.sequenceParallel || config.tensorParallelSize < 2)
      return;
    auto it = paramIndex.find(name);
    if (it == paramIndex.end())
      return;
    NamedAttrList attrs(argAttrs[it->second]);
    attrs.set(CkptDialect::kGradAllReduceAttrName,
              builder.getI64IntegerAttr(config.tensorParallelSize));
    argAttrs[it->second] = attrs.getDictionary(builder.getContext());
  }

  void declareArguments() {
    int64_t b = config.microBatchSize, s = config.seqLength;
    int64_t h = config.hiddenSize, f = config.ffnHiddenSize;
    Type index = builder.getI32Type();
    addArgument(tensor({b, s}, index), "tokens");
    addArgument(tensor({b, s}, index), "labels");
    // Megatron splits the vocabulary's rows over the tensor-parallel ranks.
    int64_t vocabRows = config.vocabParallel()
                            ? config.vocabSize / config.tensorParallelSize
                            : config.vocabSize;
    addParameter("embedding.word_embeddings.weight", {vocabRows, h});
    if (learnedPositions())
      addParameter("embedding.position_embeddings.weight",
                   {config.maxPositionEmbeddings, h});
    for (int64_t layer = 0; layer < config.numLayers; ++layer) {
      std::string prefix = layerPrefix(layer);
      // One rank's shards: column-parallel QKV and fc1 split their outputs,
      // row-parallel proj and fc2 their inputs (their biases stay whole).
      int64_t t = config.tensorParallelSize;
      addNormParameters(prefix + "input_layernorm");
      // Queries of every head, keys and values of every group.
      int64_t qkv = (config.numAttentionHeads + 2 * config.queryGroups()) *
                    config.headDim();
      addLinearParameters(prefix + "self_attention.linear_qkv", qkv / t, h,
                          config.qkvBias());
      addLinearParameters(prefix + "self_attention.linear_proj", h, h / t,
                          config.addBiasLinear);
      markSequenceParallelGrad(prefix + "self_attention.linear_proj.bias");
      addNormParameters(prefix + "pre_mlp_layernorm");
      if (config.moe()) {
        declareExperts(prefix + "mlp.");
        continue;
      }
      // A gated unit's fc1 makes each rank's gate and up halves at once.
      int64_t fc1 = config.gatedLinearUnit ? 2 * f / t : f / t;
      addLinearParameters(prefix + "mlp.linear_fc1", fc1, h, config.mlpBias());
      addLinearParameters(prefix + "mlp.linear_fc2", h, f / t,
                          config.mlpBias());
      markSequenceParallelGrad(prefix + "mlp.linear_fc2.bias");
    }
    addNormParameters("decoder.final_layernorm");
    if (config.untieEmbeddingsAndOutputWeights)
      addParameter("output_layer.weight", {vocabRows, h});
  }

  /// A mixture-of-experts MLP: the router and every expert whole on each
  /// rank (replicated, no expert parallelism), the experts' matrices
  /// stacked [E, out, in]; a shared expert split like a dense MLP.
  void declareExperts(const std::string &prefix) {
    int64_t e = config.numMoeExperts, h = config.hiddenSize;
    int64_t f = config.moeFfnHiddenSize, t = config.tensorParallelSize;
    int64_t gate = config.gatedLinearUnit ? 2 : 1;
    addParameter(prefix + "router.weight", {e, h});
    addParameter(prefix + "experts.linear_fc1.weight", {e, gate * f, h});
    addParameter(prefix + "experts.linear_fc2.weight", {e, h, f});
    if (int64_t shared = config.moeSharedExpertIntermediateSize) {
      addLinearParameters(prefix + "shared_experts.linear_fc1",
                          gate * shared / t, h, false);
      addLinearParameters(prefix + "shared_experts.linear_fc2", h, shared / t,
                          false);
    }
  }

  /// The attributes of xf.rope: base and rotary_dim, and the scaling ones
  /// that differ from their defaults (an unscaled rotation prints as
  /// before).
  SmallVector<NamedAttribute> ropeAttributes(const ops::RopeSpec &rope) {
    SmallVector<NamedAttribute> attrs = {
        builder.getNamedAttr("base", builder.getF64FloatAttr(rope.base)),
        builder.getNamedAttr("rotary_dim",
                             builder.getI64IntegerAttr(rope.rotaryDim))};
    const ops::RopeSpec plain;
    if (rope.scaling == plain.scaling)
      return attrs;
    attrs.push_back(
        builder.getNamedAttr("scaling", builder.getStringAttr(rope.scaling)));
    auto real = [&](StringRef name, double value, double fallback) {
      if (value != fallback)
        attrs.push_back(
            builder.getNamedAttr(name, builder.getF64FloatAttr(value)));
    };
    real("factor", rope.factor, plain.factor);
    real("low_freq_factor", rope.lowFreqFactor, plain.lowFreqFactor);
    real("high_freq_factor", rope.highFreqFactor, plain.highFreqFactor);
    if (rope.originalMaxPosition != plain.originalMaxPosition)
      attrs.push_back(builder.getNamedAttr(
          "original_max_position",
          builder.getI64IntegerAttr(rope.originalMaxPosition)));
    real("beta_fast", rope.betaFast, plain.betaFast);
    real("beta_slow", rope.betaSlow, plain.betaSlow);
    if (rope.truncate != plain.truncate)
      attrs.push_back(
          builder.getNamedAttr("truncate", builder.getBoolAttr(rope.truncate)));
    real("attention_factor", rope.attentionFactor, plain.attentionFactor);
    return attrs;
  }

  Value param(const std::string &name) {
    auto it = paramIndex.find(name);
    assert(it != paramIndex.end() && "parameter was not declared");
    return arguments[it->second];
  }

  Value optionalParam(const std::string &name) {
    auto it = paramIndex.find(name);
    return it == paramIndex.end() ? Value() : arguments[it->second];
  }

  //===--------------------------------------------------------------------===//
  // Body
  //===--------------------------------------------------------------------===//

  Location named(const std::string &name) {
    return NameLoc::get(builder.getStringAttr(name), fileLoc);
  }

  template <typename OpTy>
  OpTy tag(OpTy op, StringRef module, std::optional<int64_t> layer) {
    setTag(op, module, layer);
    return op;
  }

  /// The first result type of op `name` by the op table's shape rule; the
  /// config was validated, so the rule cannot fail here.
  RankedTensorType inferred(StringRef name, ValueRange operands,
                            ArrayRef<NamedAttribute> attrs = {}) {
    std::string error;
    auto types = inferResultTypes(name, operands, attrs, error);
    if (failed(types))
      llvm::report_fatal_error(llvm::Twine("GPT graph builder: ") + error);
    return types->front();
  }

  static ArrayRef<int64_t> shapeOf(Value value) {
    return cast<RankedTensorType>(value.getType()).getShape();
  }

  Value emitDropout(Value input, double probability, StringRef module,
                    std::optional<int64_t> layer, const std::string &name) {
    if (probability == 0.0)
      return input;
    auto type = cast<RankedTensorType>(input.getType());
    auto op = builder.create<DropoutOp>(
        named(name), type, tensor(type.getShape(), builder.getI1Type()), input,
        builder.getF64FloatAttr(probability),
        builder.getI64IntegerAttr(nextRngStream++));
    return tag(op, module, layer).getResult();
  }

  Value emitLinear(Value input, const std::string &prefix, StringRef module,
                   std::optional<int64_t> layer) {
    Value weight = param(prefix + ".weight");
    Value bias = optionalParam(prefix + ".bias");
    SmallVector<Value> operands = {input, weight};
    if (bias)
      operands.push_back(bias);
    auto type = inferred("linear", operands);
    auto op =
        builder.create<LinearOp>(named(prefix), type, input, weight, bias);
    return tag(op, module, layer).getResult();
  }

  /// All-gathers a sequence shard [s/t, ...] into [s, ...]. `partialGrad`:
  /// each rank's gradient of the result is partial, so the backward
  /// reduce-scatters it; otherwise it is whole and the backward takes the
  /// rank's shard. `recompute` annotates it for --ckpt-remat: the backward
  /// gathers again rather than keep the whole tensor.
  Operation *emitSequenceGather(Value input, const std::string &name,
                                bool partialGrad, bool recompute) {
    auto type = cast<RankedTensorType>(input.getType());
    SmallVector<int64_t> shape(type.getShape());
    shape[0] *= config.tensorParallelSize;
    Operation *gather = builder.create<AllGatherOp>(
        named(name), tensor(shape), input, builder.getStringAttr("tp"),
        builder.getI64IntegerAttr(config.tensorParallelSize),
        builder.getI64IntegerAttr(0), builder.getBoolAttr(partialGrad));
    if (recompute)
      setRematAnnotation(gather, RematAnnotation::Recompute);
    return gather;
  }

  /// This rank's shard [s/t, ...] of a whole [s, ...] tensor.
  Operation *emitSequenceShard(Value input, const std::string &name) {
    auto type = cast<RankedTensorType>(input.getType());
    SmallVector<int64_t> shape(type.getShape());
    shape[0] /= config.tensorParallelSize;
    return builder.create<ShardOp>(
        named(name), tensor(shape), input, builder.getStringAttr("tp"),
        builder.getI64IntegerAttr(config.tensorParallelSize),
        builder.getI64IntegerAttr(0));
  }

  /// The input of a column-parallel linear: entering the tensor-parallel
  /// region (identity forward, all-reduce backward), or with sequence
  /// parallelism an all-gather along the sequence, which the backward
  /// re-runs from the shard rather than keeping the gathered tensor
  /// (Megatron's choice, annotated for --ckpt-remat).
  Value emitColumnParallelInput(Value input, StringRef module, int64_t layer,
                                const std::string &name) {
    if (!tensorParallel())
      return input;
    Operation *op =
        config.sequenceParallel
            ? emitSequenceGather(input, name, /*partialGrad=*/true,
                                 /*recompute=*/true)
            : builder.create<TpCopyOp>(
                  named(name), input.getType(), input,
                  builder.getStringAttr("tp"),
                  builder.getI64IntegerAttr(config.tensorParallelSize));
    // The copy into the tensor-parallel region belongs with the norm whose
    // output it carries: recomputing the norm recomputes the copy.
    setTag(op, config.sequenceParallel ? module : StringRef("layernorm"),
           layer);
    return op->getResult(0);
  }

  /// A row-parallel linear: the local product, the reduction across ranks
  /// (an all-reduce, or a reduce-scatter along the sequence with sequence
  /// parallelism), then the whole bias.
  Value emitRowParallelLinear(Value input, const std::string &prefix,
                              StringRef module, int64_t layer) {
    if (!tensorParallel())
      return emitLinear(input, prefix, module, layer);
    Value weight = param(prefix + ".weight");
    auto partialType = inferred("linear", {input, weight});
    auto linear = builder.create<LinearOp>(named(prefix), partialType, input,
                                           weight, Value());
    setTag(linear, module, layer);
    auto group = builder.getStringAttr("tp");
    auto size = builder.getI64IntegerAttr(config.tensorParallelSize);
    Operation *reduce;
    if (config.sequenceParallel) {
      SmallVector<int64_t> shape(partialType.getShape());
      shape[0] /= config.tensorParallelSize;
      reduce = builder.create<ReduceScatterOp>(
          named(prefix + ".reduce_scatter"), tensor(shape), linear.getResult(),
          group, size, builder.getI64IntegerAttr(0));
    } else {
      reduce = builder.create<AllReduceOp>(named(prefix + ".all_reduce"),
                                           partialType, linear.getResult(),
                                           group, size);
    }
    setTag(reduce, module, layer);
    Value result = reduce->getResult(0);
    if (Value bias = optionalParam(prefix + ".bias")) {
      auto add = builder.create<BiasAddOp>(named(prefix + ".bias"),
                                           result.getType(), result, bias);
      setTag(add, module, layer);
      result = add.getResult();
    }
    return result;
  }

  /// The layer's norm: LayerNorm, or RMSNorm (Megatron's module name for
  /// both is the layer norm's).
  Value emitLayerNorm(Value input, const std::string &prefix,
                      std::optional<int64_t> layer) {
    auto epsilon = builder.getF64FloatAttr(config.layernormEpsilon);
    Operation *op;
    if (rmsNorm())
      op = builder.create<RmsNormOp>(named(prefix), input.getType(), input,
                                     param(prefix + ".weight"), epsilon);
    else
      op = builder.create<LayerNormOp>(named(prefix), input.getType(), input,
                                       param(prefix + ".weight"),
                                       param(prefix + ".bias"), epsilon);
    setTag(op, "layernorm", layer);
    return op->getResult(0);
  }

  Value emitEmbedding() {
    Value tokens = arguments[0];
    Value word = param("embedding.word_embeddings.weight");
    Value position = optionalParam("embedding.position_embeddings.weight");
    SmallVector<Value> operands = {tokens, word};
    if (position)
      operands.push_back(position);
    SmallVector<NamedAttribute> attrs = vocabShardsAttrs();
    auto type = inferred("embedding", operands, attrs);
    auto op = builder.create<EmbeddingOp>(named("embedding"), TypeRange{type},
                                          operands, attrs);
    tag(op, "embedding", std::nullopt);
    Value hidden = op.getResult();
    if (config.vocabParallel()) {
      // Megatron's VocabParallelEmbedding: each rank's share (its rows,
      // rank 0 the positions) summed over the group, or reduce-scattered
      // along the sequence with sequence parallelism.
      Operation *reduce;
      auto group = builder.getStringAttr("tp");
      auto size = builder.getI64IntegerAttr(config.tensorParallelSize);
      if (config.sequenceParallel) {
        SmallVector<int64_t> shape(type.getShape());
        shape[0] /= config.tensorParallelSize;
        reduce = builder.create<ReduceScatterOp>(
            named("embedding.reduce_scatter"), tensor(shape), hidden, group,
            size, builder.getI64IntegerAttr(0));
      } else {
        reduce = builder.create<AllReduceOp>(named("embedding.all_reduce"),
                                             type, hidden, group, size);
      }
      setTag(reduce, "embedding", std::nullopt);
      hidden = reduce->getResult(0);
    } else if (config.sequenceParallel && tensorParallel()) {
      // Megatron scatters the embedding into the sequence-parallel region.
      Operation *shard = emitSequenceShard(hidden, "embedding.scatter");
      setTag(shard, "embedding", std::nullopt);
      hidden = shard->getResult(0);
    }
    return emitDropout(hidden, config.embeddingDropout, "embedding",
                       std::nullopt, "embedding.dropout");
  }

  Value emitAttention(Value input, int64_t layer, const std::string &prefix) {
    int64_t t = config.tensorParallelSize;
    int64_t heads = config.numAttentionHeads / t;
    // Grouped-query attention names its groups; multi-head leaves it 0.
    int64_t groups = config.numQueryGroups > 0 ? config.numQueryGroups / t : 0;
    Value qkvInput =
        emitColumnParallelInput(input, "qkv", layer, prefix + "qkv_input");
    Value qkv = emitLinear(qkvInput, prefix + "linear_qkv", "qkv", layer);
    SmallVector<NamedAttribute> splitAttrs = {
        builder.getNamedAttr("num_heads", builder.getI64IntegerAttr(heads))};
    if (groups > 0)
      splitAttrs.push_back(builder.getNamedAttr(
          "num_query_groups", builder.getI64IntegerAttr(groups)));
    std::string error;
    auto types = inferResultTypes("split_heads", qkv, splitAttrs, error);
    if (failed(types))
      llvm::report_fatal_error(llvm::Twine("GPT graph builder: ") + error);
    auto split =
        tag(builder.create<SplitHeadsOp>(
                named(prefix + "core_attention"), (*types)[0], (*types)[1],
                (*types)[2], qkv, builder.getI64IntegerAttr(heads),
                groups > 0 ? builder.getI64IntegerAttr(groups) : IntegerAttr()),
            // Q, K and V are core attention's inputs, as in Megatron,
            // where the split belongs to the QKV step.
            "qkv", layer);
    Value query = split.getQuery(), key = split.getKey();
    if (rotary()) {
      // Rotary embeddings of the queries and keys, before core attention
      // (whose checkpoint starts from the rotated values, as in Megatron).
      ops::RopeSpec rope = config.rope();
      auto rotate = [&](Value heads, const char *what) {
        auto op =
            builder.create<RopeOp>(named(prefix + "rotary_pos_emb." + what),
                                   TypeRange{heads.getType()},
                                   ValueRange{heads}, ropeAttributes(rope));
        return tag(op, "qkv", layer).getResult();
      };
      query = rotate(query, "query");
      key = rotate(key, "key");
    }
    double scale = 1.0 / std::sqrt(static_cast<double>(config.headDim()));
    Value merged;
    if (config.attentionBackend == "flash") {
      merged = emitFlashAttention(query, key, split.getValue(), scale, layer,
                                  prefix);
    } else {
      // The unfused context is [b, a, s, d]; Megatron copies it into
      // [s, b, h] (a contiguous permute), as xf.merge_heads does.
      Value context = emitUnfusedAttention(query, key, split.getValue(), scale,
                                           layer, prefix);
      merged = tag(builder.create<MergeHeadsOp>(
                       named(prefix + "core_attention"),
                       inferred("merge_heads", context), context),
                   "core_attn", layer)
                   .getResult();
    }
    return emitRowParallelLinear(merged, prefix + "linear_proj", "attn_proj",
                                 layer);
  }

  /// One fused op; the attention dropout is drawn inside it. Its result is
  /// already [s, b, h] (merge_heads): the projection reads Transformer
  /// Engine's sbhd context as a view, so the layer keeps it once.
  Value emitFlashAttention(Value query, Value key, Value value, double scale,
                           int64_t layer, const std::string &prefix) {
    SmallVector<NamedAttribute> attrs = {
        builder.getNamedAttr("scale", builder.getF64FloatAttr(scale)),
        builder.getNamedAttr("merge_heads", builder.getBoolAttr(true))};
    std::string error;
    auto types =
        inferResultTypes("flash_attention", {query, key, value}, attrs, error);
    if (failed(types))
      llvm::report_fatal_error(llvm::Twine("GPT graph builder: ") + error);
    double p = config.attentionDropout;
    auto op = builder.create<FlashAttentionOp>(
        named(prefix + "core_attention"), (*types)[0], (*types)[1], query, key,
        value, builder.getF64FloatAttr(scale), builder.getBoolAttr(true),
        builder.getF64FloatAttr(p),
        builder.getI64IntegerAttr(p > 0.0 ? nextRngStream++ : 0),
        builder.getBoolAttr(true));
    return tag(op, "core_attn", layer).getResult();
  }

  /// Scores, causal softmax, attention dropout and context, each an op.
  Value emitUnfusedAttention(Value query, Value key, Value value, double scale,
                             int64_t layer, const std::string &prefix) {
    auto scoresType =
        inferred("attention_scores", {query, key},
                 builder.getNamedAttr("scale", builder.getF64FloatAttr(scale)));
    auto scores = tag(builder.create<AttentionScoresOp>(
                          named(prefix + "core_attention"), scoresType, query,
                          key, builder.getF64FloatAttr(scale)),
                      "core_attn", layer);
    auto probs = tag(builder.create<SoftmaxOp>(named(prefix + "core_attention"),
                                               scoresType, scores.getResult(),
                                               builder.getUnitAttr()),
                     "core_attn", layer);
    Value dropped =
        emitDropout(probs.getResult(), config.attentionDropout, "core_attn",
                    layer, prefix + "core_attention.attention_dropout");
    auto contextType = inferred("attention_context", {dropped, value});
    auto context =
        tag(builder.create<AttentionContextOp>(named(prefix + "core_attention"),
                                               contextType, dropped, value),
            "core_attn", layer);
    return context.getResult();
  }

  Value emitResidual(Value residual, Value branch, StringRef module,
                     int64_t layer, const std::string &name) {
    auto op = builder.create<AddOp>(named(name), residual, branch);
    return tag(op, module, layer).getResult();
  }

  /// The activation of an MLP's first linear: a gated unit or GeLU.
  Value emitActivation(Value input, StringRef module, int64_t layer,
                       const std::string &name) {
    Operation *op;
    if (config.gatedLinearUnit)
      op = builder.create<GluOp>(named(name), inferred("glu", input), input,
                                 builder.getStringAttr(config.activation));
    else
      op = builder.create<GeluOp>(
          named(name), input, builder.getStringAttr(config.geluApproximate));
    setTag(op, module, layer);
    return op->getResult(0);
  }

  /// A mixture-of-experts MLP, computed whole on every rank: with sequence
  /// parallelism its input is gathered (the gradient is whole on each rank,
  /// so the backward takes the rank's shard) and its output sharded back.
  Value emitMoe(Value input, int64_t layer, const std::string &prefix) {
    bool gathered = tensorParallel() && config.sequenceParallel;
    Value tokens = input;
    if (gathered) {
      Operation *gather = emitSequenceGather(input, prefix + "input",
                                             /*partialGrad=*/false,
                                             /*recompute=*/true);
      setTag(gather, "moe", layer);
      tokens = gather->getResult(0);
    }
    Value router = param(prefix + "router.weight");
    auto logits =
        tag(builder.create<LinearOp>(named(prefix + "router"),
                                     inferred("linear", {tokens, router}),
                                     tokens, router, Value()),
            "moe", layer);
    // Dropless routing (no capacity factor) fills a grouped buffer of a row
    // per choice, as Megatron permutes tokens for its grouped GEMM; a
    // capacity factor gives every expert its own rows.
    bool grouped = !config.moeExpertCapacityFactor;
    int64_t capacity = grouped ? 0 : config.moeCapacity(),
            e = config.numMoeExperts;
    SmallVector<NamedAttribute> routeAttrs = {
        builder.getNamedAttr("top_k",
                             builder.getI64IntegerAttr(config.moeRouterTopk)),
        builder.getNamedAttr("capacity", builder.getI64IntegerAttr(capacity)),
        builder.getNamedAttr("drop_policy",
                             builder.getStringAttr(config.moeTokenDropPolicy))};
    std::string error;
    auto types =
        inferResultTypes("moe_route", logits.getResult(), routeAttrs, error);
    if (failed(types))
      llvm::report_fatal_error(llvm::Twine("GPT graph builder: ") + error);
    auto route = tag(builder.create<MoeRouteOp>(
                         named(prefix + "router"), (*types)[0], (*types)[1],
                         (*types)[2], logits.getResult(),
                         builder.getI64IntegerAttr(config.moeRouterTopk),
                         builder.getI64IntegerAttr(capacity),
                         builder.getStringAttr(config.moeTokenDropPolicy)),
                     "moe", layer);
    if (config.moeAuxLossCoeff > 0.0) {
      // Its weight in the step's loss: the coefficient over the
      // micro-batches, as Megatron scales the aux loss's gradient by
      // 1 / num_microbatches.
      double weight =
          config.moeAuxLossCoeff / static_cast<double>(config.numMicroBatches);
      if (config.moeAuxLossPooled) {
        // transformers pools the choices of every layer: this layer's
        // counts now, its term once all layers have routed.
        auto counts = builder.create<MoeExpertCountsOp>(
            named(prefix + "router.counts"),
            RankedTensorType::get({e}, builder.getF32Type()),
            route.getExperts(), builder.getI64IntegerAttr(e));
        pooledRouters.push_back({logits.getResult(), route.getExperts(),
                                 tag(counts, "moe", layer).getResult()});
      } else {
        auto aux = builder.create<MoeAuxLossOp>(
            named(prefix + "router.aux_loss"), lossType(), logits.getResult(),
            route.getExperts(), Value(), builder.getF64FloatAttr(weight));
        auxLosses.push_back(tag(aux, "moe", layer).getResult());
      }
    }
    SmallVector<NamedAttribute> bufferAttrs = {
        builder.getNamedAttr("num_experts", builder.getI64IntegerAttr(e)),
        builder.getNamedAttr("capacity", builder.getI64IntegerAttr(capacity))};
    auto dispatched = tag(
        builder.create<MoeDispatchOp>(
            named(prefix + "token_dispatcher"),
            inferred("moe_dispatch", {tokens, route.getSlots()}, bufferAttrs),
            tokens, route.getSlots(), builder.getI64IntegerAttr(e),
            builder.getI64IntegerAttr(capacity)),
        "moe", layer);
    auto expertLinear = [&](Value x, const std::string &name) {
      Value weight = param(prefix + "experts." + name + ".weight");
      Value experts = grouped ? route.getExperts() : Value();
      SmallVector<Value> operands = {x, weight};
      if (experts)
        operands.push_back(experts);
      auto op = builder.create<ExpertLinearOp>(
          named(prefix + "experts." + name),
          inferred("expert_linear", operands), x, weight, experts);
      return tag(op, "moe", layer).getResult();
    };
    Value fc1 = expertLinear(dispatched.getResult(), "linear_fc1");
    Value act =
        emitActivation(fc1, "moe_act", layer, prefix + "experts.activation");
    Value fc2 = expertLinear(act, "linear_fc2");
    auto combined = tag(builder.create<MoeCombineOp>(
                            named(prefix + "token_dispatcher"),
                            inferred("moe_combine", {fc2, route.getWeights(),
                                                     route.getSlots()}),
                            fc2, route.getWeights(), route.getSlots()),
                        "moe", layer);
    Value result = combined.getResult();
    if (gathered) {
      Operation *shard = emitSequenceShard(result, prefix + "output");
      setTag(shard, "moe", layer);
      result = shard->getResult(0);
    }
    if (config.moeSharedExpertIntermediateSize == 0)
      return result;
    // The shared expert: a dense MLP beside the routed ones.
    std::string shared = prefix + "shared_experts.";
    Value sharedInput = emitColumnParallelInput(input, "shared_experts", layer,
                                                shared + "input");
    Value sharedFc1 =
        emitLinear(sharedInput, shared + "linear_fc1", "shared_experts", layer);
    Value sharedAct = emitActivation(sharedFc1, "shared_experts", layer,
                                     shared + "activation");
    Value sharedOut = emitRowParallelLinear(sharedAct, shared + "linear_fc2",
                                            "shared_experts", layer);
    return emitResidual(result, sharedOut, "moe", layer, prefix + "sum");
  }

  Value emitLayer(Value hidden, int64_t layer) {
    std::string prefix = layerPrefix(layer);
    Value ln1 = emitLayerNorm(hidden, prefix + "input_layernorm", layer);
    Value attn = emitAttention(ln1, layer, prefix + "self_attention.");
    Value attnDrop = emitDropout(attn, config.hiddenDropout, "attn_proj", layer,
                                 prefix + "self_attention.dropout");
    Value res1 = emitResidual(hidden, attnDrop, "attn_proj", layer,
                              prefix + "self_attn_bda");
    Value ln2 = emitLayerNorm(res1, prefix + "pre_mlp_layernorm", layer);
    if (config.moe()) {
      Value moe = emitMoe(ln2, layer, prefix + "mlp.");
      Value moeDrop = emitDropout(moe, config.hiddenDropout, "moe", layer,
                                  prefix + "mlp.dropout");
      return emitResidual(res1, moeDrop, "moe", layer, prefix + "mlp_bda");
    }
    Value fc1Input =
        emitColumnParallelInput(ln2, "mlp", layer, prefix + "mlp.input");
    Value fc1 = emitLinear(fc1Input, prefix + "mlp.linear_fc1", "mlp", layer);
    Value activated =
        emitActivation(fc1, "mlp", layer, prefix + "mlp.activation");
    Value fc2 = emitRowParallelLinear(activated, prefix + "mlp.linear_fc2",
                                      "mlp", layer);
    Value mlpDrop = emitDropout(fc2, config.hiddenDropout, "mlp", layer,
                                prefix + "mlp.dropout");
    return emitResidual(res1, mlpDrop, "mlp", layer, prefix + "mlp_bda");
  }

  Value emitHeadAndLoss(Value hidden) {
    Value normed =
        emitLayerNorm(hidden, "decoder.final_layernorm", std::nullopt);
    if (tensorParallel() &&
        (config.vocabParallel() || config.sequenceParallel)) {
      // Megatron's column-parallel output layer: each rank's vocabulary
      // rows, so each rank's input gradient is partial (summed by the
      // copy's or the gather's backward). With sequence parallelism the
      // backward gathers the input again from this rank's shard rather
      // than keeping it whole (2sbh/t). A vocabulary that does not split
      // leaves the head whole on every rank: its input gradient is whole
      // too, and the gather's backward only splits it.
      Operation *enter;
      if (config.sequenceParallel)
        enter = emitSequenceGather(normed, "decoder.final_layernorm.gather",
                                   /*partialGrad=*/config.vocabParallel(),
                                   /*recompute=*/true);
      else
        enter = builder.create<TpCopyOp>(
            named("output_layer.input"), normed.getType(), normed,
            builder.getStringAttr("tp"),
            builder.getI64IntegerAttr(config.tensorParallelSize));
      setTag(enter, "head", std::nullopt);
      normed = enter->getResult(0);
    }
    Value weight = config.untieEmbeddingsAndOutputWeights
                       ? param("output_layer.weight")
                       : param("embedding.word_embeddings.weight");
    auto logitsType = inferred("linear", {normed, weight});
    auto logits =
        tag(builder.create<LinearOp>(named("output_layer"), logitsType, normed,
                                     weight, Value()),
            "head", std::nullopt);
    // The step's loss is the mean of its micro-batches' (Megatron divides
    // each by num_microbatches).
    SmallVector<NamedAttribute> lossAttrs = vocabShardsAttrs();
    if (config.numMicroBatches > 1)
      lossAttrs.push_back(builder.getNamedAttr(
          "micro_batches", builder.getI64IntegerAttr(config.numMicroBatches)));
    auto probsType =
        RankedTensorType::get(logitsType.getShape(), builder.getF32Type());
    auto loss =
        tag(builder.create<CrossEntropyOp>(
                named("loss"), TypeRange{lossType(), probsType},
                ValueRange{logits.getResult(), arguments[1]}, lossAttrs),
            "loss", std::nullopt);
    return loss.getResult();
  }

  /// vocab_shards = t when the vocabulary is split (none when it is not).
  SmallVector<NamedAttribute> vocabShardsAttrs() {
    if (!config.vocabParallel())
      return {};
    return {builder.getNamedAttr(
        "vocab_shards", builder.getI64IntegerAttr(config.tensorParallelSize))};
  }

  /// The config's own recompute policy, with Megatron's field names.
  DictionaryAttr describePolicy() {
    const config::RecomputeDefaults &r = config.recompute;
    NamedAttrList fields;
    fields.append(
        "recompute_granularity",
        builder.getStringAttr(r.granularity.empty() ? "none" : r.granularity));
    if (!r.method.empty())
      fields.append("recompute_method", builder.getStringAttr(r.method));
    if (r.numLayers)
      fields.append("recompute_num_layers",
                    builder.getI64IntegerAttr(*r.numLayers));
    if (!r.modules.empty())
      fields.append("recompute_modules",
                    builder.getStrArrayAttr(SmallVector<StringRef>(
                        r.modules.begin(), r.modules.end())));
    if (r.distributeSavedActivations)
      fields.append("distribute_saved_activations", builder.getBoolAttr(true));
    return fields.getDictionary(builder.getContext());
  }

  ModelAttr describeModel() {
    return ModelAttr::get(
        builder.getContext(), config.family,
        config.format == config::ConfigFormat::Megatron ? "megatron"
                                                        : "huggingface",
        config.numLayers, config.hiddenSize, config.numAttentionHeads,
        config.ffnHiddenSize, config.seqLength, config.microBatchSize,
        config.vocabSize, config.maxPositionEmbeddings,
        builder.getF64FloatAttr(config.hiddenDropout),
        builder.getF64FloatAttr(config.attentionDropout), elementType,
        builder.getBoolAttr(config.untieEmbeddingsAndOutputWeights),
        tensorParallel() ? config.tensorParallelSize : 1,
        tensorParallel() ? builder.getBoolAttr(config.sequenceParallel)
                         : BoolAttr(),
        config.normalization,
        config.gatedLinearUnit ? builder.getBoolAttr(true) : BoolAttr(),
        config.activation, config.positionEmbeddingType,
        rotary() ? builder.getF64FloatAttr(config.rotaryBase) : FloatAttr(),
        rotary() ? builder.getF64FloatAttr(config.rotaryPercent) : FloatAttr(),
        config.numQueryGroups, config.attentionBackend, config.numMoeExperts,
        config.moe() ? config.moeRouterTopk : 0,
        config.moe() ? config.moeFfnHiddenSize : 0,
        config.moe() ? config.moeSharedExpertIntermediateSize : 0,
        config.moe() ? config.moeCapacity() : 0,
        config.moe() && config.moeExpertCapacityFactor
            ? builder.getF64FloatAttr(*config.moeExpertCapacityFactor)
            : FloatAttr(),
        config.dataParallelSize,
        config.useDistributedOptimizer ? builder.getBoolAttr(true)
                                       : BoolAttr());
  }

  const GPTConfig &config;
  OpBuilder builder;
  Location fileLoc;
  int64_t stage; ///< The pipeline stage whose graph is built.
  Type elementType;
  SmallVector<Type> argTypes;
  SmallVector<DictionaryAttr> argAttrs;
  llvm::StringMap<unsigned> paramIndex;
  Block::BlockArgListType arguments;
  int64_t nextRngStream = 0;
  SmallVector<Value> auxLosses; ///< One per MoE layer with a balancing loss.
  /// A layer's router under transformers' pooled balancing loss.
  struct PooledRouter {
    Value logits, experts, counts;
  };
  SmallVector<PooledRouter> pooledRouters;

  /// transformers' load_balancing_loss_func over L layers of T = s·b
  /// tokens: coeff · E · Σ_e F_e · P_e with F_e the share of all layers'
  /// choices naming e and P_e the mean of all layers' softmax. With C the
  /// pooled counts that is Σ_l coeff · E / (L·T)² · Σ_e C_e · Σ_t p_l,t,e:
  /// one term per layer, weighted by the counts of every layer.
  void emitPooledBalancingLoss() {
    if (pooledRouters.empty())
      return;
    Value counts = pooledRouters.front().counts;
    for (const PooledRouter &router : ArrayRef(pooledRouters).drop_front())
      counts = tag(builder.create<AddOp>(named("loss.aux.counts"), counts,
                                         router.counts),
                   "loss", std::nullopt)
                   .getResult();
    double rows = static_cast<double>(pooledRouters.size()) *
                  static_cast<double>(config.seqLength) *
                  static_cast<double>(config.microBatchSize);
    double weight = config.moeAuxLossCoeff *
                    static_cast<double>(config.numMoeExperts) /
                    (rows * rows * static_cast<double>(config.numMicroBatches));
    for (const PooledRouter &router : pooledRouters)
      auxLosses.push_back(
          tag(builder.create<MoeAuxLossOp>(
                  named("loss.aux"), lossType(), router.logits, router.experts,
                  counts, builder.getF64FloatAttr(weight)),
              "loss", std::nullopt)
              .getResult());
  }
};

} // namespace

OwningOpRef<ModuleOp> ckpt::buildGPTForwardGraph(const GPTConfig &config,
                                                 MLIRContext *context,
                                                 Location loc, int64_t stage) {
  return GPTGraphBuilder(config, context, loc, stage).build();
}

//===- MegatronFields.cpp - Megatron fields vetted for the importer -------===//

#include "ckpt/Target/Config/MegatronFields.h"

using namespace ckpt::config;

const std::set<std::string> &ckpt::config::megatronFieldsWithoutEffect() {
  static const std::set<std::string> fields = {
      // The optimizer and its schedule act after the step's gradients.
      "optimizer", "lr", "min_lr", "lr_decay_style", "lr_decay_iters",
      "lr_decay_samples", "lr_warmup_fraction", "lr_warmup_iters",
      "lr_warmup_samples", "lr_warmup_init", "weight_decay",
      "start_weight_decay", "end_weight_decay", "weight_decay_incr_style",
      "clip_grad", "adam_beta1", "adam_beta2", "adam_eps", "sgd_momentum",
      "loss_scale", "initial_loss_scale", "min_loss_scale", "loss_scale_window",
      "hysteresis", "override_opt_param_scheduler",
      "use_checkpoint_opt_param_scheduler", "train_iters", "train_samples",
      "exit_interval", "exit_duration_in_mins", "exit_signal_handler",
      "skip_train", "check_for_nan_in_loss_and_grad",
      // Data: which tokens, not how a step treats them.
      "data_path", "train_data_path", "valid_data_path", "test_data_path",
      "data_cache_path", "split", "mock_data", "vocab_file", "merge_file",
      "tokenizer_type", "tokenizer_model", "num_workers", "dataloader_type",
      // Logging, evaluation and checkpoints.
      "log_interval", "log_params_norm", "log_num_zeros_in_grad",
      "log_throughput", "log_timers_to_tensorboard",
      "log_validation_ppl_to_tensorboard", "log_memory_to_tensorboard",
      "log_world_size_to_tensorboard", "tensorboard_dir",
      "tensorboard_log_interval", "tensorboard_queue_size", "wandb_project",
      "wandb_exp_name", "wandb_save_dir", "timing_log_level",
      "timing_log_option", "timers", "barrier_with_L1_time", "eval_interval",
      "eval_iters", "save", "load", "save_interval", "no_save_optim",
      "no_save_rng", "no_load_optim", "no_load_rng", "finetune",
      "pretrained_checkpoint", "ckpt_format", "auto_detect_ckpt_format",
      "async_save", "use_dist_ckpt",
      // Initialization and seeds: the step takes its parameters as given.
      "seed", "init_method_std", "init_method", "output_layer_init_method",
      "use_cpu_initialization", "perform_initialization",
      "data_parallel_random_init",
      // Process set-up and the callables TransformerConfig carries.
      "distributed_backend", "distributed_timeout_minutes", "local_rank",
      "rank", "world_size", "finalize_model_grads_func", "grad_scale_func",
      "no_sync_func", "grad_sync_func", "param_sync_func", "pipeline_dtype",
      "batch_p2p_comm", "batch_p2p_sync", "use_ring_exchange_p2p",
      // Fused kernels that keep what the unfused ops keep for the backward
      // and compute the same values (up to rounding): the masked softmax,
      // bias + GeLU / SwiGLU, bias + dropout + add, the persistent layer
      // norm, rotary embedding, the fused cross-entropy, the weight
      // gradient's GEMM fused with its addition to the fp32 main_grad.
      "masked_softmax_fusion", "bias_gelu_fusion", "bias_activation_fusion",
      "bias_swiglu_fusion", "bias_dropout_fusion", "persist_layer_norm",
      "apply_rope_fusion", "cross_entropy_loss_fusion",
      "gradient_accumulation_fusion",
      // fp16 scaling of Q·Kᵀ by the layer number, undone inside the softmax:
      // the identity in exact arithmetic. The softmax in fp32 is how every
      // backend here computes it (its kept output stays in the model's
      // type, as in Megatron).
      "apply_query_key_layer_scaling", "attention_softmax_in_fp32",
      // Settings that act only with activation offloading, which is refused
      // unless off (cpu_offloading, fine_grained_activation_offloading);
      // some Megatron versions default offload_modules to ["core_attn"]
      // with offloading off.
      "cpu_offloading_num_layers", "cpu_offloading_activations",
      "cpu_offloading_weights", "offload_modules"};
  return fields;
}

const std::vector<NeutralField> &ckpt::config::megatronNeutralFields() {
  static const std::vector<NeutralField> fields = {
      {"fp32_residual_connection", "false",
       "keeps the residual stream in fp32 (more kept bytes a layer)"},
      {"apply_residual_connection_post_layernorm", "false",
       "takes the residual after the norm (BERT's order)"},
      {"layernorm_zero_centered_gamma", "false",
       "centres the norm weights at 0 (1 + gamma)"},
      {"memory_efficient_layer_norm", "false",
       "makes the norm keep its output instead of its input"},
      {"qk_layernorm", "false", "adds norms on the queries and keys"},
      {"qk_l2_norm", "false", "adds L2 norms on the queries and keys"},
      {"rotary_interleaved", "false",
       "rotates interleaved channel pairs instead of halves"},
      {"multi_latent_attention", "false", "uses multi-latent attention"},
      {"window_size", "null", "limits attention to a sliding window"},
      {"softmax_scale", "null",
       "scales the attention scores other than by 1/sqrt(head dim)"},
      {"test_mode", "false", "runs Megatron's test-mode checks"},
      {"calculate_per_token_loss", "false",
       "divides the loss by the global batch's token count"},
      {"mtp_num_layers", "null", "adds multi-token prediction layers"},
      {"context_parallel_size", "1",
       "splits the sequence over context-parallel ranks"},
      {"expert_model_parallel_size", "1",
       "spreads the experts over expert-parallel ranks"},
      {"fp8", "null", "trains in FP8"},
      {"cpu_offloading", "false", "offloads activations to the host"},
      {"fine_grained_activation_offloading", "false",
       "offloads the inputs of the offload_modules to the host"},
      {"tp_comm_overlap", "false",
       "overlaps tensor-parallel communication with extra buffers"},
      {"deallocate_pipeline_outputs", "false",
       "frees each stage's sent outputs early"},
      {"variable_seq_lengths", "false",
       "sends sequences of varying length between stages"},
      {"num_layers_per_virtual_pipeline_stage", "null",
       "sets the model chunks (give virtual_pipeline_model_parallel_size)"},
      {"grad_reduce_in_bf16", "false", "reduces gradients in bf16"},
      {"clone_scatter_output_in_embedding", "true",
       "keeps a view of the embedding's scattered output"},
      {"enable_autocast", "false", "runs the model under torch autocast"},
  };
  return fields;
}

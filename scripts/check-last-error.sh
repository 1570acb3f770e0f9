#!/bin/sh
# check-last-error.sh MAP TEST - the last-error test (tests/check_last_error.c,
# issue 13 item 5) covers the whole API: every function of the linker
# version script MAP is called in TEST, unless it takes no handle whose
# message it could set. Those are listed below, each with its reason; a new
# exported function either gets a call in TEST (EXPECT_OK_CLEARS after a
# failing call, docs/errors.md) or a line here.
set -eu
map=$1 test=$2

# Functions without a handle's message to check:
#   creates and loads (they report through ctr_allocator.message,
#   tests/check_create.c), destroys, the last_error readers themselves,
#   and the calls that take no handle at all.
no_handle='
ctr_affinity_create ctr_bank_create ctr_comm_create ctr_encoder_create
ctr_knn_create ctr_objective_create ctr_optimizer_create
ctr_optimizer_create_for_encoder ctr_probe_create ctr_queue_create
ctr_ridge_create ctr_rng_create ctr_state_create
ctr_bank_load ctr_bank_load_buffer ctr_encoder_load ctr_encoder_load_buffer
ctr_objective_load ctr_objective_load_buffer ctr_optimizer_load
ctr_optimizer_load_buffer ctr_queue_load ctr_queue_load_buffer ctr_rng_load
ctr_rng_load_buffer
ctr_affinity_destroy ctr_bank_destroy ctr_comm_destroy ctr_encoder_destroy
ctr_knn_destroy ctr_objective_destroy ctr_optimizer_destroy
ctr_probe_destroy ctr_queue_destroy ctr_ridge_destroy ctr_rng_destroy
ctr_state_destroy
ctr_affinity_last_error ctr_bank_last_error ctr_comm_last_error
ctr_encoder_last_error ctr_knn_last_error ctr_objective_last_error
ctr_optimizer_last_error ctr_probe_last_error ctr_queue_last_error
ctr_ridge_last_error ctr_rng_last_error ctr_state_last_error
ctr_affinity_param_bounds ctr_bank_param_bounds ctr_encoder_param_bounds
ctr_knn_param_bounds ctr_objective_param_bounds ctr_optimizer_param_bounds
ctr_probe_param_bounds
ctr_cpc_args_init ctr_cpc_args_struct_size ctr_local_global_args_init
ctr_comm_ops_init ctr_comm_ops_struct_size ctr_allocator_init
ctr_allocator_struct_size
ctr_strerror ctr_version_number ctr_version_string ctr_build_info
ctr_constant_at ctr_constant_name ctr_constant_value
ctr_load_default_max_bytes ctr_optimizer_cosine_lr ctr_patch_grid
ctr_alignment ctr_uniformity
'

status=0
syms=$(sed -n 's/^[[:space:]]*\(ctr_[A-Za-z0-9_]*\);.*/\1/p' "$map")
[ -n "$syms" ] || { echo "check-last-error: no symbols read from $map" >&2; exit 1; }
checked=0
for sym in $syms; do
    case " $(echo $no_handle) " in *" $sym "*) continue ;; esac
    checked=$((checked + 1))
    grep -qw "$sym" "$test" ||
        { echo "check-last-error: $sym takes a handle but $test never calls it" >&2; status=1; }
done
for sym in $no_handle; do
    echo "$syms" | grep -qx "$sym" ||
        { echo "check-last-error: $sym is listed here but not exported by $map" >&2; status=1; }
done
[ $status -ne 0 ] || echo "check-last-error: $checked functions that take a handle are called in $test"
exit $status

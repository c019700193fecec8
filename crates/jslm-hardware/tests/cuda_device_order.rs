//! CUDA numbers GPUs fastest-first unless told otherwise; the plan's ordinals are NVML's PCI
//! order. `pin_cuda_device_order` makes them agree, and leaves a user's own choice alone. (Its
//! own test binary: it sets the process environment.)

use jslm_hardware::gpu_variant::pin_cuda_device_order;

#[test]
fn cuda_counts_gpus_in_pci_order_unless_the_user_chose() {
    std::env::remove_var("CUDA_DEVICE_ORDER");
    pin_cuda_device_order();
    assert_eq!(
        std::env::var("CUDA_DEVICE_ORDER").as_deref(),
        Ok("PCI_BUS_ID")
    );
    std::env::set_var("CUDA_DEVICE_ORDER", "FASTEST_FIRST");
    pin_cuda_device_order();
    assert_eq!(
        std::env::var("CUDA_DEVICE_ORDER").as_deref(),
        Ok("FASTEST_FIRST")
    );
}

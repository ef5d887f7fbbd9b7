// Pieces shared by the per-element update rules (sgd.h ... muon.h). The rules are marked
// OPTIM_HD so the CUDA kernels can call the very same functions on the device.
#pragma once

#ifdef __CUDACC__
#define OPTIM_HD __host__ __device__
#else
#define OPTIM_HD
#endif

// sign with sign(0) = 0: a coordinate whose gradient (or momentum) is exactly zero does not
// move. This keeps wte's padding rows at zero under the sign methods.
OPTIM_HD inline float sign_or_zero(float x) { return (float)((x > 0.0f) - (x < 0.0f)); }

// --zo: zero-order training's flags (common/zero_order.h has the methods). Kept apart from
// the methods so train_config.h stays light.
//   --zo mezo|jaguar-sign|jaguar-muon (default off), --zo-eps (MeZO), --zo-tau, --zo-beta,
//   --zo-fraction (JAGUAR). Defaults: MeZO's eps 1e-3 (Malladi et al. 2023); JAGUAR's
//   fine-tuning script: tau 5e-3, beta 0.1, a tenth of each tensor's rows and columns.
#pragma once
#include <cstdio>
#include <cstring>
#include <string>

enum class ZoMethod { Off, MeZO, JaguarSign, JaguarMuon };

struct ZoConfig {
    ZoMethod method = ZoMethod::Off;
    float eps = 1e-3f;      // --zo-eps: MeZO's perturbation scale
    float tau = 5e-3f;      // --zo-tau: JAGUAR's coordinate shift
    float beta = 0.1f;      // --zo-beta: JAGUAR's m = beta m + (1 - beta) rho on the sampled set
    float fraction = 0.1f;  // --zo-fraction: JAGUAR samples this share of a vector's entries, of a matrix's rows and of its columns
    bool on() const { return method != ZoMethod::Off; }
};

inline const char* zo_method_name(ZoMethod m) {
    switch (m) {
        case ZoMethod::Off: return "off";
        case ZoMethod::MeZO: return "mezo";
        case ZoMethod::JaguarSign: return "jaguar-sign";
        case ZoMethod::JaguarMuon: return "jaguar-muon";
    }
    return "?";
}

inline bool zo_method_from_name(const char* s, ZoMethod* out) {
    for (ZoMethod m : {ZoMethod::MeZO, ZoMethod::JaguarSign, ZoMethod::JaguarMuon})
        if (!strcmp(s, zo_method_name(m))) { *out = m; return true; }
    return false;
}

// The method and its settings as one line, e.g. "jaguar-sign tau 0.005 beta 0.1 fraction 0.1"
// ("off" without --zo): checkpoints record it as "run/zo" and a resume that changes it is
// refused (common/checkpoint.h), since the momentum slot and the step's rule depend on it.
inline std::string zo_settings_name(const ZoConfig& z) {
    char s[160];
    if (z.method == ZoMethod::Off) return "off";
    if (z.method == ZoMethod::MeZO) snprintf(s, sizeof s, "mezo eps %g", z.eps);
    else snprintf(s, sizeof s, "%s tau %g beta %g fraction %g", zo_method_name(z.method), z.tau, z.beta, z.fraction);
    return s;
}

// The line both trainers print under --zo, after the optimizer line.
inline void print_zero_order_plan(const ZoConfig& zo) {
    if (zo.method == ZoMethod::MeZO)
        printf("zero-order mezo: eps %g, two forward passes per step, no backward (the rule above applies the estimate)\n", zo.eps);
    else
        printf("zero-order %s: tau %g, beta %g, fraction %g of each vector / of each matrix's rows and columns, two forward "
               "passes per step, no backward\n", zo_method_name(zo.method), zo.tau, zo.beta, zo.fraction);
}

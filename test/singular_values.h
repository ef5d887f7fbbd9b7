// Singular values of a small matrix, in double, for the Newton-Schulz checks
// (test/test_optim.cpp, dev/cuda/optimizers.cu).
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

// The singular values of a rows x cols matrix: eigenvalues of its small Gram matrix by
// cyclic Jacobi rotations, in double.
inline std::vector<double> singular_values(const float* X, int rows, int cols) {
    const bool tall = rows > cols;
    const int r = tall ? cols : rows, k = tall ? rows : cols;
    auto at = [&](int i, int j) { return (double)(tall ? X[(size_t)j * cols + i] : X[(size_t)i * cols + j]); };
    std::vector<double> A((size_t)r * r, 0.0);
    for (int i = 0; i < r; i++)
        for (int j = 0; j < r; j++)
            for (int l = 0; l < k; l++) A[(size_t)i * r + j] += at(i, l) * at(j, l);
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0.0;
        for (int i = 0; i < r; i++)
            for (int j = i + 1; j < r; j++) off += A[(size_t)i * r + j] * A[(size_t)i * r + j];
        if (off < 1e-22) break;
        for (int p = 0; p < r; p++)
            for (int q = p + 1; q < r; q++) {
                const double apq = A[(size_t)p * r + q];
                if (std::fabs(apq) < 1e-300) continue;
                const double theta = (A[(size_t)q * r + q] - A[(size_t)p * r + p]) / (2.0 * apq);
                const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
                const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
                for (int l = 0; l < r; l++) { // A = A J
                    const double alp = A[(size_t)l * r + p], alq = A[(size_t)l * r + q];
                    A[(size_t)l * r + p] = c * alp - s * alq;
                    A[(size_t)l * r + q] = s * alp + c * alq;
                }
                for (int l = 0; l < r; l++) { // A = J^T A
                    const double apl = A[(size_t)p * r + l], aql = A[(size_t)q * r + l];
                    A[(size_t)p * r + l] = c * apl - s * aql;
                    A[(size_t)q * r + l] = s * apl + c * aql;
                }
            }
    }
    std::vector<double> sv(r);
    for (int i = 0; i < r; i++) sv[i] = std::sqrt(std::max(0.0, A[(size_t)i * r + i]));
    return sv;
}

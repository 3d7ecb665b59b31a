//===- DsaGenerator.cpp - Instances with a known packing ------------------===//

#include "ckpt/Planner/DsaGenerator.h"

#include <algorithm>
#include <random>

using namespace ckpt::planner;

TiledInstance
ckpt::planner::generateTiledInstance(const TiledInstanceSpec &spec) {
  // Both dimensions in granules; a piece is at least two granules each way.
  struct Piece {
    int64_t start, end;  ///< Time.
    int64_t bottom, top; ///< Memory.
    __int128 area() const {
      return static_cast<__int128>(end - start) * (top - bottom);
    }
  };
  std::mt19937_64 rng(spec.seed);
  auto uniform = [&](int64_t lo, int64_t hi) { // [lo, hi]
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const int64_t granule = std::max<int64_t>(1, spec.granule);
  const int64_t horizon = std::max<int64_t>(1, spec.horizon / granule);
  const int64_t height = std::max<int64_t>(1, spec.capacity / granule);
  std::vector<Piece> pieces = {{0, horizon, 0, height}};
  while (static_cast<int>(pieces.size()) < spec.buffers) {
    // A piece at random, weighted by area (so pieces stay comparable rather
    // than one corner shattering into slivers), among those that can split.
    __int128 totalArea = 0;
    for (const Piece &p : pieces)
      if (p.end - p.start >= 4 || p.top - p.bottom >= 4)
        totalArea += p.area();
    if (totalArea == 0)
      break;
    __int128 pick = static_cast<__int128>(
        std::uniform_real_distribution<double>(0, 1)(rng) *
        static_cast<double>(totalArea));
    size_t chosen = 0;
    for (size_t k = 0; k < pieces.size(); ++k) {
      const Piece &p = pieces[k];
      if (p.end - p.start < 4 && p.top - p.bottom < 4)
        continue;
      chosen = k;
      if (pick < p.area())
        break;
      pick -= p.area();
    }
    Piece piece = pieces[chosen];
    bool acrossTime = piece.end - piece.start >= 4;
    bool acrossMemory = piece.top - piece.bottom >= 4;
    // Cut the longer side more often (relative to the rectangle), so that
    // pieces stay roughly as wide as tall.
    double wide = static_cast<double>(piece.end - piece.start) /
                  static_cast<double>(horizon);
    double tall = static_cast<double>(piece.top - piece.bottom) /
                  static_cast<double>(height);
    bool inTime =
        acrossTime && (!acrossMemory || std::uniform_real_distribution<double>(
                                            0, wide + tall)(rng) < wide);
    Piece second = piece;
    if (inTime) {
      int64_t cut = uniform(piece.start + 2, piece.end - 2);
      piece.end = second.start = cut;
    } else {
      int64_t cut = uniform(piece.bottom + 2, piece.top - 2);
      piece.top = second.bottom = cut;
    }
    pieces[chosen] = piece;
    pieces.push_back(second);
  }
  std::shuffle(pieces.begin(), pieces.end(), rng);
  size_t keep =
      pieces.size() - static_cast<size_t>(spec.dropShare * pieces.size());
  TiledInstance instance;
  instance.capacity = (spec.capacity / granule) * granule;
  for (size_t k = 0; k < keep; ++k) {
    const Piece &p = pieces[k];
    instance.buffers.push_back(
        {p.start * granule, p.end * granule, (p.top - p.bottom) * granule});
    instance.knownOffsets.push_back(p.bottom * granule);
  }
  return instance;
}

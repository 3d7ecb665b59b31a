//===- OutputFiles.h - Every tool output, all or nothing --------*- C++ -*-===//
//
// How every tool (compiler and runtime) writes a file it was told to write.
// Plain C++17 and POSIX, no LLVM, so the runtime shares it.
//
// - "-" is standard output.
// - A regular file (or a name that does not exist yet) is written to a
//   temporary file beside it and renamed over it, so it is either untouched
//   or complete.
// - A symbolic link stays a link: the file it points to is the target.
// - A character or block device, a FIFO or a socket stays what it is: the
//   bytes are written into it in place (`-o /dev/null` never replaces the
//   machine's /dev/null, and needs no right to create files in /dev).
// - A folder is refused.
//
// An OutputSet holds the outputs of one run: nothing reaches a target until
// commit(), so a run whose third output fails leaves the first two as they
// were.
//
//===----------------------------------------------------------------------===//

#ifndef CKPT_OUTPUT_OUTPUTFILES_H
#define CKPT_OUTPUT_OUTPUTFILES_H

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt::output {

/// What a path names when a tool is asked to write there.
enum class TargetKind {
  Stdout,  ///< "-"
  Replace, ///< a regular file, or none yet: a temporary renamed over it
  InPlace, ///< a device, FIFO or socket: written into as it is
};

struct Target {
  TargetKind kind = TargetKind::Replace;
  /// The path written: symbolic links followed to the file they name.
  std::string path;
};

/// Resolves `path`; on failure returns false with `error` saying why
/// ("'out' is a folder", a link loop, ...).
bool resolveTarget(const std::string &path, Target &target, std::string &error);

/// The outputs of one run, written together by commit(). Thread-safe: a
/// pass on another thread may add to it.
class OutputSet {
public:
  OutputSet() = default;
  OutputSet(const OutputSet &) = delete;
  OutputSet &operator=(const OutputSet &) = delete;
  /// Removes every temporary that was not committed.
  ~OutputSet();

  /// Reserves `path` for a producer that writes a file itself (a tool
  /// driver's `-o`): sets `file` to the temporary to write, or "-" when
  /// the target is standard output (written directly, not deferred).
  bool stage(const std::string &path, std::string &file, std::string &error);
  /// Stages `contents` for `path`. A later output for the same target
  /// replaces an earlier one.
  bool add(const std::string &path, std::string_view contents,
           std::string &error);
  /// Moves every staged output into place, in the order staged. On failure
  /// the outputs not yet moved are discarded.
  bool commit(std::string &error);
  /// Drops every staged output; no target changes.
  void discard();

private:
  struct Entry {
    Target target;
    std::string temporary; ///< empty: `contents` holds the bytes
    std::string contents;
  };
  /// Makes the entry of `path`, resolved to `target` (not stdout when
  /// `withFile`): its temporary, or a buffer for `contents`.
  bool stageLocked(const std::string &path, const Target &target, bool withFile,
                   Entry *&entry, std::string &error);
  std::vector<Entry> entries;
  std::mutex mutex;
};

/// The outputs of a run kept in memory instead of written (the C API's
/// in-memory pass runs): what each path was given, the last write winning.
/// Thread-safe.
class CapturedOutputs {
public:
  void add(const std::string &path, std::string_view contents);
  /// Every path written, with its contents.
  std::map<std::string, std::string> take();

private:
  std::map<std::string, std::string> files;
  std::mutex mutex;
};

/// Writes one output: into the open capture (ScopedCapture), else into the
/// current run's set (ScopedRunOutputs), else now. Returns false with
/// `error` set.
bool writeFile(const std::string &path, std::string_view contents,
               std::string &error);

/// While alive, writeFile() from any thread joins `set` instead of writing
/// at once: a tool opens one around its whole run and commits it only when
/// the run succeeded.
class ScopedRunOutputs {
public:
  explicit ScopedRunOutputs(OutputSet &set);
  ~ScopedRunOutputs();
  ScopedRunOutputs(const ScopedRunOutputs &) = delete;
  ScopedRunOutputs &operator=(const ScopedRunOutputs &) = delete;

private:
  OutputSet *previous;
};

/// While alive, writeFile() from any thread keeps its output in `captured`
/// and touches no file.
class ScopedCapture {
public:
  explicit ScopedCapture(CapturedOutputs &captured);
  ~ScopedCapture();
  ScopedCapture(const ScopedCapture &) = delete;
  ScopedCapture &operator=(const ScopedCapture &) = delete;

private:
  CapturedOutputs *previous;
};

} // namespace ckpt::output

#endif // CKPT_OUTPUT_OUTPUTFILES_H

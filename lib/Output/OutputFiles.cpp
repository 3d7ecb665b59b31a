//===- OutputFiles.cpp - Every tool output, all or nothing ----------------===//

#include "ckpt/Output/OutputFiles.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace ckpt::output;

namespace {

std::string quoted(const std::string &path) { return "'" + path + "'"; }

std::string systemError() { return std::strerror(errno); }

std::string parentOf(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

/// Writes all of `data` to `fd`, across short writes and signals.
bool writeAll(int fd, const char *data, size_t size) {
  while (size > 0) {
    ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    data += written;
    size -= static_cast<size_t>(written);
  }
  return true;
}

/// The process's umask, read without changing it (other threads may be
/// creating files): /proc/self/status where Linux has it.
mode_t currentUmask() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("Umask:", 0) == 0)
      return static_cast<mode_t>(std::strtoul(line.c_str() + 6, nullptr, 8));
  mode_t mask = ::umask(022);
  ::umask(mask);
  return mask;
}

/// The mode a new output gets: the replaced file's, or what open(2) would
/// give a new file. mkstemp's 0600 would hide outputs from other users.
mode_t modeFor(const std::string &path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode))
    return st.st_mode & 07777;
  return 0666 & ~currentUmask();
}

/// Creates an empty temporary file from `model` (ending in XXXXXX).
bool createTemporary(std::string model, mode_t mode, std::string &file,
                     std::string &error, const std::string &target) {
  int fd = ::mkstemp(model.data());
  if (fd < 0) {
    error = "cannot write " + quoted(target) + ": cannot create a file in " +
            quoted(parentOf(model)) + ": " + systemError();
    return false;
  }
  ::fchmod(fd, mode);
  ::close(fd);
  file = model;
  return true;
}

/// Copies the file `from` into the open descriptor `fd`.
bool copyInto(const std::string &from, int fd) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return false;
  char buffer[1 << 16];
  bool ok = true;
  for (;;) {
    ssize_t got = ::read(in, buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0) {
      ok = got == 0;
      break;
    }
    if (!writeAll(fd, buffer, static_cast<size_t>(got))) {
      ok = false;
      break;
    }
  }
  ::close(in);
  return ok;
}

std::atomic<OutputSet *> currentSet{nullptr};
std::atomic<CapturedOutputs *> currentCapture{nullptr};

} // namespace

bool ckpt::output::resolveTarget(const std::string &path, Target &target,
                                 std::string &error) {
  if (path == "-") {
    target = {TargetKind::Stdout, path};
    return true;
  }
  if (path.empty()) {
    error = "an output needs a file name (or - for standard output)";
    return false;
  }
  std::string current = path;
  for (int links = 0;; ++links) {
    struct stat st;
    if (::lstat(current.c_str(), &st) != 0) {
      if (errno == ENOENT) {
        target = {TargetKind::Replace, current};
        return true;
      }
      error = "cannot write " + quoted(path) + ": " + systemError();
      return false;
    }
    if (S_ISLNK(st.st_mode)) {
      if (links == 40) {
        error = "cannot write " + quoted(path) +
                ": too many levels of symbolic links";
        return false;
      }
      std::string link(static_cast<size_t>(st.st_size > 0 ? st.st_size : 4096),
                       '\0');
      ssize_t length = ::readlink(current.c_str(), link.data(), link.size());
      if (length < 0) {
        error = "cannot write " + quoted(path) + ": " + systemError();
        return false;
      }
      link.resize(static_cast<size_t>(length));
      current = !link.empty() && link[0] == '/'
                    ? link
                    : parentOf(current) + "/" + link;
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      error = "cannot write " + quoted(path) +
              ": it is a folder (name a file, or - for standard output)";
      return false;
    }
    target = {S_ISREG(st.st_mode) ? TargetKind::Replace : TargetKind::InPlace,
              current};
    return true;
  }
}

OutputSet::~OutputSet() { discard(); }

bool OutputSet::stageLocked(const std::string &path, const Target &target,
                            bool withFile, Entry *&entry, std::string &error) {
  std::string temporary;
  if (target.kind == TargetKind::Replace) {
    if (!createTemporary(target.path + ".tmp-XXXXXX", modeFor(target.path),
                         temporary, error, path))
      return false;
  } else if (target.kind == TargetKind::InPlace && withFile) {
    // No file can go beside a device: stage in $TMPDIR, or /tmp when that
    // is not writable (a test runner's private folder, another user's).
    const char *folder = std::getenv("TMPDIR");
    bool staged = false;
    for (std::string dir :
         {std::string(folder ? folder : ""), std::string("/tmp")}) {
      if (dir.empty())
        continue;
      error.clear();
      if ((staged = createTemporary(dir + "/ckpt-output-XXXXXX", 0600,
                                    temporary, error, path)))
        break;
    }
    if (!staged)
      return false;
  }
  // A later output for the same file replaces the earlier one.
  if (target.kind == TargetKind::Replace) {
    for (Entry &old : entries) {
      if (old.target.kind == TargetKind::Replace &&
          old.target.path == target.path) {
        ::unlink(old.temporary.c_str());
        old.temporary = temporary;
        old.contents.clear();
        entry = &old;
        return true;
      }
    }
  }
  entries.push_back({target, temporary, {}});
  entry = &entries.back();
  return true;
}

bool OutputSet::stage(const std::string &path, std::string &file,
                      std::string &error) {
  std::lock_guard<std::mutex> lock(mutex);
  Target target;
  if (!resolveTarget(path, target, error))
    return false;
  if (target.kind == TargetKind::Stdout) {
    file = "-";
    return true;
  }
  Entry *entry = nullptr;
  if (!stageLocked(path, target, /*withFile=*/true, entry, error))
    return false;
  file = entry->temporary;
  return true;
}

bool OutputSet::add(const std::string &path, std::string_view contents,
                    std::string &error) {
  std::lock_guard<std::mutex> lock(mutex);
  Target target;
  Entry *entry = nullptr;
  if (!resolveTarget(path, target, error) ||
      !stageLocked(path, target, /*withFile=*/false, entry, error))
    return false;
  if (entry->temporary.empty()) {
    entry->contents.assign(contents.data(), contents.size());
    return true;
  }
  // Written now, so that a full disk fails the run before any commit.
  int fd = ::open(entry->temporary.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  bool ok = fd >= 0 && writeAll(fd, contents.data(), contents.size());
  std::string why = ok ? "" : systemError();
  if (fd >= 0 && ::close(fd) != 0 && ok) {
    ok = false;
    why = systemError();
  }
  if (!ok)
    error = "cannot write " + quoted(path) + ": " + why;
  return ok;
}

bool OutputSet::commit(std::string &error) {
  std::lock_guard<std::mutex> lock(mutex);
  bool ok = true;
  for (Entry &entry : entries) {
    if (!ok)
      break;
    const Target &target = entry.target;
    switch (target.kind) {
    case TargetKind::Stdout:
      ok =
          writeAll(STDOUT_FILENO, entry.contents.data(), entry.contents.size());
      if (!ok)
        error = "cannot write to standard output: " + systemError();
      break;
    case TargetKind::Replace:
      if (::rename(entry.temporary.c_str(), target.path.c_str()) != 0) {
        error = "cannot write " + quoted(target.path) + ": " + systemError();
        ok = false;
        break;
      }
      entry.temporary.clear();
      break;
    case TargetKind::InPlace: {
      int fd = ::open(target.path.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY);
      ok = fd >= 0 &&
           (entry.temporary.empty()
                ? writeAll(fd, entry.contents.data(), entry.contents.size())
                : copyInto(entry.temporary, fd));
      if (!ok)
        error = "cannot write " + quoted(target.path) + ": " + systemError();
      if (fd >= 0)
        ::close(fd);
      break;
    }
    }
  }
  for (Entry &entry : entries)
    if (!entry.temporary.empty())
      ::unlink(entry.temporary.c_str());
  entries.clear();
  return ok;
}

void OutputSet::discard() {
  std::lock_guard<std::mutex> lock(mutex);
  for (Entry &entry : entries)
    if (!entry.temporary.empty())
      ::unlink(entry.temporary.c_str());
  entries.clear();
}

void CapturedOutputs::add(const std::string &path, std::string_view contents) {
  std::lock_guard<std::mutex> lock(mutex);
  files[path] = std::string(contents);
}

std::map<std::string, std::string> CapturedOutputs::take() {
  std::lock_guard<std::mutex> lock(mutex);
  return std::move(files);
}

ScopedCapture::ScopedCapture(CapturedOutputs &captured)
    : previous(currentCapture.exchange(&captured)) {}

ScopedCapture::~ScopedCapture() { currentCapture.store(previous); }

bool ckpt::output::writeFile(const std::string &path, std::string_view contents,
                             std::string &error) {
  if (CapturedOutputs *captured = currentCapture.load()) {
    captured->add(path, contents);
    return true;
  }
  if (OutputSet *set = currentSet.load())
    return set->add(path, contents, error);
  OutputSet set;
  return set.add(path, contents, error) && set.commit(error);
}

ScopedRunOutputs::ScopedRunOutputs(OutputSet &set)
    : previous(currentSet.exchange(&set)) {}

ScopedRunOutputs::~ScopedRunOutputs() { currentSet.store(previous); }

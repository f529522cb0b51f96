#include "tools/fsck/report.h"

#include "tools/fsck/progress.h"

namespace pmemfs::fsck {

void Report::begin_line() {
  if (progress_) progress_->before_line();
}

void Report::repairable(const std::string& line, Repair repair) {
  ++problems_;
  const size_t cut = line.rfind("; ");
  begin_line();
  if (repairing_ || cut == std::string::npos)
    out_ << line << '\n';
  else
    out_ << line.substr(0, cut) << " [-y: " << line.substr(cut + 2) << "]\n";
  if (repair) repairs_.push_back(std::move(repair));
}

void Report::unrepairable(const std::string& line) {
  ++problems_;
  ++unrepairable_;
  begin_line();
  out_ << line << " (cannot repair yet)\n";
}

void Report::note(const std::string& line) {
  begin_line();
  out_ << line << '\n';
}

void Report::run_repairs(Image& img) {
  for (auto& r : repairs_) r(img);
}

}  // namespace pmemfs::fsck

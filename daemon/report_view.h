// How nudgectl report shows a Report (core/report.h): a terminal table, the JSON
// structure of issue 12, or one self-contained HTML page (inline SVG charts, no
// script, no external resource) that works offline.
#pragma once

#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/report.h"

namespace nudge {

// `by` is one of report_dimensions().
nlohmann::ordered_json report_json(const Report& r, const std::string& by);
void print_report(const Report& r, const std::string& by, std::ostream& out);
void write_report_html(const Report& r, std::ostream& out);

}  // namespace nudge

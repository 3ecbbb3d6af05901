// The one translation unit that compiles Asio and Beast (BOOST_ASIO_SEPARATE_COMPILATION,
// BOOST_BEAST_SEPARATE_COMPILATION): every other file includes their headers without the
// implementation, which keeps builds on this two-core machine tolerable.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>

//! Locks that work with and without `std`.
//!
//! With `std` they are the standard library's; without it (firmware), spin locks, which are right for a
//! single core where the core's locks are only ever held for a few statements and never across a call out.
//! Poisoning is ignored: every update made under these locks is completed without calling out, so a panic
//! elsewhere cannot leave the guarded state half-changed.

#[cfg(feature = "std")]
mod imp {
    pub(crate) type Guard<'a, T> = std::sync::MutexGuard<'a, T>;
    pub(crate) type ReadGuard<'a, T> = std::sync::RwLockReadGuard<'a, T>;
    pub(crate) type WriteGuard<'a, T> = std::sync::RwLockWriteGuard<'a, T>;
    pub(crate) type RawMutex<T> = std::sync::Mutex<T>;
    pub(crate) type RawRwLock<T> = std::sync::RwLock<T>;

    pub(crate) fn lock<T>(m: &RawMutex<T>) -> Guard<'_, T> {
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    pub(crate) fn get_mut<T>(m: &mut RawMutex<T>) -> &mut T {
        m.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    pub(crate) fn read<T>(l: &RawRwLock<T>) -> ReadGuard<'_, T> {
        l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    pub(crate) fn write<T>(l: &RawRwLock<T>) -> WriteGuard<'_, T> {
        l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(not(feature = "std"))]
mod imp {
    pub(crate) type Guard<'a, T> = spin::MutexGuard<'a, T>;
    pub(crate) type ReadGuard<'a, T> = spin::RwLockReadGuard<'a, T>;
    pub(crate) type WriteGuard<'a, T> = spin::RwLockWriteGuard<'a, T>;
    pub(crate) type RawMutex<T> = spin::Mutex<T>;
    pub(crate) type RawRwLock<T> = spin::RwLock<T>;

    pub(crate) fn lock<T>(m: &RawMutex<T>) -> Guard<'_, T> {
        m.lock()
    }
    pub(crate) fn get_mut<T>(m: &mut RawMutex<T>) -> &mut T {
        m.get_mut()
    }
    pub(crate) fn read<T>(l: &RawRwLock<T>) -> ReadGuard<'_, T> {
        l.read()
    }
    pub(crate) fn write<T>(l: &RawRwLock<T>) -> WriteGuard<'_, T> {
        l.write()
    }
}

pub(crate) use imp::Guard as MutexGuard;

/// A mutual-exclusion lock that ignores poisoning.
#[derive(Default)]
pub(crate) struct Mutex<T>(imp::RawMutex<T>);

impl<T> Mutex<T> {
    pub(crate) const fn new(value: T) -> Self {
        Mutex(imp::RawMutex::new(value))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        imp::lock(&self.0)
    }

    pub(crate) fn get_mut(&mut self) -> &mut T {
        imp::get_mut(&mut self.0)
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Mutex").field(&*self.lock()).finish()
    }
}

/// A reader-writer lock that ignores poisoning.
pub(crate) struct RwLock<T>(imp::RawRwLock<T>);

impl<T> RwLock<T> {
    pub(crate) const fn new(value: T) -> Self {
        RwLock(imp::RawRwLock::new(value))
    }

    pub(crate) fn read(&self) -> imp::ReadGuard<'_, T> {
        imp::read(&self.0)
    }

    pub(crate) fn write(&self) -> imp::WriteGuard<'_, T> {
        imp::write(&self.0)
    }
}

// The Android library (AAR) of paywire: the Kotlin sources shared with the JVM jar, plus the native library
// for each Android ABI in src/main/jniLibs (built by scripts/build-android.sh).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "paywire-android"
